"""Sizer: decides an entry, a pyramid or an exit against the book it is handed (docs/rules.md §3, §5, §6).

The SignalReceiver owns the order: it hands the Sizer one stored signal at a time with the book that includes
every earlier outcome. The Sizer only sizes; it keeps no state between signals, so a restart loses nothing (the
`Decide` it was handling stays at the head of its mailbox and is handled again).
"""

from __future__ import annotations

from dataclasses import dataclass

from basso.actors.base import Actor, ActorRef
from basso.config import Config
from basso.messages import Decide, Decided
from basso.rules.decisions import decide_payload

__all__ = ["Sizer", "SizerContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SizerContext:
    """What a Sizer incarnation needs: the configuration and the next actor."""

    config: Config
    risk_guard: ActorRef[Decided]


class Sizer(Actor[Decide]):
    """Decides one stored signal against the book handed with it."""

    def __init__(self, context: SizerContext) -> None:
        self.context = context

    async def handle(self, message: Decide) -> None:
        decision = decide_payload(message.pending.payload, message.book, self.context.config)
        await self.send(
            self.context.risk_guard,
            Decided.following(message, pending=message.pending, decision=decision, book=message.book),
        )
