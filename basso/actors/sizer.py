"""Sizer: takes the oldest stored signal and decides it against the book (SPEC §3, §5, §6).

One signal at a time: after sending a decision down the pipeline it waits for the Persister's `Committed`
before it looks at the next signal, so every decision is made against a book that includes every
earlier signal. Its book dies with it; a new incarnation rebuilds the book from the facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from basso.actors.base import Actor, ActorRef, no_fault
from basso.book import Book
from basso.config import Config
from basso.messages import Committed, Decided, Message, Poll
from basso.processing import decide_stored
from basso.store.book import load_book
from basso.store.outcomes import next_pending
from basso.store.retry import until_available


@dataclass(frozen=True, slots=True, kw_only=True)
class SizerContext:
    """What a Sizer incarnation needs: the pool, the configuration, the next actor and the epoch."""

    pool: asyncpg.Pool
    config: Config
    risk_guard: ActorRef[Message]
    epoch: int
    fault: Callable[[str], None] = no_fault  # chaos tests raise here; production never does


class Sizer(Actor[Message]):
    """Decides stored signals, in arrival order, one in flight at a time."""

    def __init__(self, context: SizerContext) -> None:
        self.context = context
        self.book: Book | None = None
        self.in_flight: int | None = None

    async def on_start(self) -> None:
        # A restart may have lost a Committed reply: whatever was in flight is found pending again (or done).
        await self.ref.tell(Poll(epoch=self.context.epoch))

    async def handle(self, message: Message) -> None:
        self.context.fault(self.name)
        if isinstance(message, Committed):
            self.book = message.book
            if message.signal == self.in_flight:
                self.in_flight = None
        elif not isinstance(message, Poll):
            raise TypeError(f"the Sizer does not take {type(message).__name__}")
        if self.in_flight is None:
            await self._decide_next()

    async def _decide_next(self) -> None:
        pool, config = self.context.pool, self.context.config
        pending = await until_available(lambda: next_pending(pool), what="sizer: next signal")
        if pending is None:
            return
        if self.book is None:
            self.book = await until_available(lambda: load_book(pool, config), what="sizer: book")
        decision = decide_stored(pending, self.book, config)
        self.in_flight = pending.id
        await self.send(self.context.risk_guard, Decided(pending=pending, decision=decision, book=self.book,
                                                         epoch=self.context.epoch))
