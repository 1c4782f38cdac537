"""Sizer: decides an entry, a pyramid or an exit against the book it is handed (docs/rules.md §3, §5, §6).

The SignalReceiver owns the order: it hands the Sizer one stored signal at a time with the book that includes
every earlier outcome, or, with a broker that takes its time, the entries, pyramids and exits pending in a row as
a batch, each decided against the book the one before leaves (basso/actors/deciding.py). The Sizer only sizes; it
keeps no state between signals, so a restart loses nothing (the `Decide` it was handling stays at the head of its
mailbox and is handled again).
"""

from __future__ import annotations

from dataclasses import dataclass

from basso.actors.base import Actor, ActorRef
from basso.actors.deciding import decide_in_turn
from basso.config import Config
from basso.messages import Decide, Decided

__all__ = ["Sizer", "SizerContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SizerContext:
    """What a Sizer incarnation needs: the configuration and the next actor."""

    config: Config
    risk_guard: ActorRef[Decided]


class Sizer(Actor[Decide]):
    """Decides a stored signal (or a batch) against the book handed with it."""

    def __init__(self, context: SizerContext) -> None:
        self.context = context

    async def handle(self, message: Decide) -> None:
        await self.send(self.context.risk_guard, decide_in_turn(message, self.context.config))
