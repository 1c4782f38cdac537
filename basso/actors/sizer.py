"""Sizer: takes the oldest stored signal and decides it against the book (docs/rules.md §3, §5, §6).

One signal at a time: after sending a decision down the pipeline it waits for the Persister's `Committed`
before it looks at the next signal, so every decision is made against a book that includes every
earlier signal. Its book dies with it; a new incarnation rebuilds the book from the facts. It adopts the
book a `Committed` carries only for the signal it has in flight; any other reply (a redelivery's, after a
crash) means its view may be behind, and it rebuilds from the facts. Should a stale book slip through all
the same, the commit refuses it (the facts' version, sql/002) and the signal is decided again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from basso.actors.base import ActorRef, no_fault
from basso.actors.database import DatabaseActor
from basso.config import Config
from basso.messages import Committed, Decided, Message, Poll, Rebuild
from basso.rules.book import Book
from basso.rules.decisions import decide_payload
from basso.store.book import load_book
from basso.store.outcomes import PendingSignal, pending_signals

READ_AHEAD = 64  # pending signals read per query


@dataclass(frozen=True, slots=True, kw_only=True)
class SizerContext:
    """What a Sizer incarnation needs: the pool, the configuration, the next actor and the epoch."""

    pool: asyncpg.Pool
    config: Config
    risk_guard: ActorRef[Message]
    epoch: Callable[[], int]  # the epoch this instance trades at now
    fault: Callable[[str], None] = no_fault  # chaos tests raise here; production never does


class Sizer(DatabaseActor):
    """Decides stored signals, in arrival order, one in flight at a time."""

    def __init__(self, context: SizerContext) -> None:
        super().__init__(context.pool)
        self.context = context
        self.book: Book | None = None
        self.in_flight: int | None = None
        self.ahead: deque[PendingSignal] = deque()

    async def on_start(self) -> None:
        # A restart may have lost a Committed reply: whatever was in flight is found pending again (or done).
        await self.ref.tell(Poll(epoch=self.context.epoch()))

    async def handle(self, message: Message) -> None:
        self.context.fault(self.name)
        if isinstance(message, Committed):
            ours = message.signal == self.in_flight
            self.book = message.book if ours else None
            if self.book is None:
                self.ahead.clear()  # our view of what is pending may be stale too
            if ours:
                self.in_flight = None
        elif isinstance(message, Rebuild):
            self.book = None  # another leader may have changed the facts since this book was read
            self.ahead.clear()
        elif not isinstance(message, Poll):
            raise TypeError(f"the Sizer does not take {type(message).__name__}")
        if self.in_flight is None:
            await self._decide_next()

    async def _decide_next(self) -> None:
        pending = await self._next_pending()
        if pending is None:
            return
        if self.book is None:
            config = self.context.config
            self.book = await self.db.run(lambda conn: load_book(conn, config), what="sizer: book")
        decision = decide_payload(pending.payload, self.book, self.context.config)
        self.in_flight = pending.id
        await self.send(self.context.risk_guard, Decided(pending=pending, decision=decision, book=self.book,
                                                         epoch=self.context.epoch()))

    async def _next_pending(self) -> PendingSignal | None:
        if not self.ahead:
            self.ahead.extend(await self.db.run(lambda conn: pending_signals(conn, limit=READ_AHEAD),
                                                what="sizer: next signals"))
        return self.ahead.popleft() if self.ahead else None
