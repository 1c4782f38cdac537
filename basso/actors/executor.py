"""The order executor: turns an approved decision into fills (the paper broker) and settles the money."""

from __future__ import annotations

from dataclasses import dataclass

from basso.actors.base import Actor, ActorRef
from basso.brokers.paper import paper_fills
from basso.config import Config
from basso.messages import Decided, PersisterInbox, Settled
from basso.rules.settlement import settle


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorContext:
    """The configuration (fills, costs) and the next actor."""

    config: Config
    persister: ActorRef[PersisterInbox]


class Executor(Actor[Decided]):
    """Fills every entry and exit of a decision on the paper broker and books the result."""

    def __init__(self, context: ExecutorContext) -> None:
        self.context = context

    async def handle(self, message: Decided) -> None:
        config = self.context.config
        settlement = settle(message.decision, paper_fills(message.decision, config), message.book, config)
        await self.send(
            self.context.persister, Settled.following(message, pending=message.pending, settlement=settlement)
        )
