"""Sizer: takes the oldest stored signal and decides it against the book (docs/rules.md §3, §5, §6).

One signal at a time: after sending a decision down the pipeline it waits for the Persister's `Committed`
before it looks at the next signal, so every decision is made against a book that includes every
earlier signal. Its book dies with it; a new incarnation rebuilds the book from the facts. It adopts the
book a `Committed` carries only for the signal it has in flight; any other reply (a redelivery's, after a
crash) means its view may be behind, and it rebuilds from the facts. Every leadership term starts from a
rebuilt book: the Sizer records the epoch its book was built in and rebuilds before deciding in another (a
Poll of the new term may reach it before Recovery's Rebuild does). Should a stale book slip through all the
same, the commit refuses it (the facts' version, sql/002) and the signal is decided again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.config import Config
from basso.messages import Committed, Decided, Poll, Rebuild, SizerInbox
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
    risk_guard: ActorRef[Decided]
    epoch: Callable[[], int]  # the epoch this instance trades at now


class Sizer(DatabaseActor[SizerInbox]):
    """Decides stored signals, in arrival order, one in flight at a time."""

    def __init__(self, context: SizerContext) -> None:
        super().__init__(context.pool)
        self.context = context
        self.book: Book | None = None
        self.book_epoch = 0  # the leadership term `book` (and `ahead`) was read in
        self.in_flight: int | None = None  # the signals row decided and not yet committed
        self.ahead: deque[PendingSignal] = deque()

    async def on_start(self) -> None:
        # A restart may have lost a Committed reply: whatever was in flight is found pending again (or done).
        await self.ref.tell(Poll(epoch=self.context.epoch()))

    async def handle(self, message: SizerInbox) -> None:
        match message:
            case Committed(signal_row=signal_row, book=book, epoch=epoch):
                ours = signal_row == self.in_flight
                self.book = book if ours else None
                self.book_epoch = epoch
                if self.book is None:
                    self.ahead.clear()  # our view of what is pending may be stale too
                if ours:
                    self.in_flight = None
            case Rebuild():
                self.book = None  # another leader may have changed the facts since this book was read
                self.ahead.clear()
            case Poll():
                pass
        if self.in_flight is None:
            await self._decide_next()

    async def _decide_next(self) -> None:
        epoch = self.context.epoch()
        if self.book_epoch != epoch:  # a new term: another leader may have changed the facts meanwhile
            self.book, self.book_epoch = None, epoch
            self.ahead.clear()
        pending = await self._next_pending()
        if pending is None:
            return
        if self.book is None:
            config = self.context.config
            self.book = await self.db.run(lambda conn: load_book(conn, config), what="sizer: book")
        decision = decide_payload(pending.payload, self.book, self.context.config)
        self.in_flight = pending.id
        await self.send(self.context.risk_guard, Decided(pending=pending, decision=decision, book=self.book,
                                                         cause_id=pending.id, epoch=epoch))

    async def _next_pending(self) -> PendingSignal | None:
        if not self.ahead:
            self.ahead.extend(await self.db.run(lambda conn: pending_signals(conn, limit=READ_AHEAD),
                                                what="sizer: next signals"))
        return self.ahead.popleft() if self.ahead else None
