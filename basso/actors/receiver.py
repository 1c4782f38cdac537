"""SignalReceiver: owns the order in which stored signals are applied (docs/architecture.md, the actors table).

Woken by a webhook stored here, a NOTIFY of one stored by another instance, or the sweep (each a `Poll`), it
takes the oldest pending signal and hands it to the stage that decides it: entries, pyramids and exits to the
Sizer, bar closes to the StopTrailer, roll steps to the RolloverScanner. One signal is in flight at a time (or
one batch: the signals pending in a row that the same stage decides, each against the book the one before
leaves, basso/actors/deciding.py): it waits for the Persister's `Committed` before it looks at the next, so every
decision is made against a book that includes every earlier signal's outcome, whichever stage made it.

The book lives here, not in the stages: it is handed over with each signal (`Decide`). The receiver adopts the
book a `Committed` carries only for the signal it has in flight; any other reply (a redelivery's, after a
crash) means its view may be behind, and it rebuilds from the facts. Every leadership term starts from a
rebuilt book: the receiver records the epoch its book was built in and rebuilds before handing out a signal
in another (a Poll of the new term may reach it before Recovery's Rebuild does). Should a stale book slip
through all the same, the commit refuses it (the facts' version, sql/002) and the signal is decided again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.actors.turn import BookTurn
from basso.config import Config
from basso.messages import Committed, Decide, Poll, Rebuild, ReceiverInbox, RolloverInbox, StopTrailerInbox
from basso.rules.book import Book
from basso.store.book import load_book
from basso.store.outcomes import PendingSignal, pending_signals

__all__ = ["BATCH", "READ_AHEAD", "ReceiverContext", "SignalReceiver", "Stages", "stage_of"]

READ_AHEAD = 64  # pending signals read per query
BATCH = 32  # signals pending in a row handed out together at most (one transaction, one disk flush)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stages:
    """The actors that decide signals, by kind."""

    sizer: ActorRef[Decide]  # entries, pyramids, exits
    stop_trailer: ActorRef[StopTrailerInbox]  # bar closes
    rollover: ActorRef[RolloverInbox]  # roll steps


def stage_of(payload: dict[str, Any]) -> str:
    """Which stage decides a stored signal: 'stop_trailer' for a bar close, 'rollover' for a roll step, else
    'sizer' (which also rejects a payload the configuration no longer accepts)."""
    kind = payload.get("type")
    if kind == "MARKET_DATA":
        return "stop_trailer"
    if kind == "ROLL":
        return "rollover"
    return "sizer"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverContext:
    """What a SignalReceiver incarnation needs: the pool, the configuration, the stages and the epoch."""

    pool: asyncpg.Pool
    config: Config
    stages: Stages
    epoch: Callable[[], int]  # the epoch this instance trades at now
    turn: BookTurn = field(default_factory=BookTurn)  # shared with the order desk, which records fills meanwhile
    # The broker fills at once (paper): each fill comes before the next decision, so entries, pyramids and exits go
    # one at a time. One that takes its time (OpenAlgo) has the next decided against its working orders anyway.
    fills_at_once: bool = True


class SignalReceiver(DatabaseActor[ReceiverInbox]):
    """Hands stored signals, in arrival order, one (or one batch) in flight at a time, to the stage that decides
    each."""

    def __init__(self, context: ReceiverContext) -> None:
        super().__init__(context.pool)
        self.context = context
        self.book: Book | None = None
        self.book_epoch = 0  # the leadership term `book` (and `ahead`) was read in
        # The signals rows handed out and not yet committed: one, or every row of a batch.
        self.in_flight: frozenset[int] = frozenset()
        self.in_flight_roll = False  # whether that is a roll step
        self.ahead: deque[PendingSignal] = deque()
        # After a batch came back undone (a crash, a stale book, a dead letter), its signals go one at a time up to
        # here: a poison signal is then found alone, and only it is buried.
        self.singly_until = 0
        # The facts moved (Rebuild) while a signal was in flight: the book its Committed carries may not include
        # that, so it is not adopted. The order desk's records are counted instead (BookTurn.writes): a book read
        # before the last of them is read again before the next signal.
        self.moved_in_flight = False
        self.writes_seen = 0  # the order desk's records the book includes

    async def on_start(self) -> None:
        # A restart may have lost a Committed reply: whatever was in flight is found pending again (or done).
        self.context.turn.decided()
        await self.ref.tell(Poll(epoch=self.context.epoch()))

    async def handle(self, message: ReceiverInbox) -> None:
        match message:
            case Committed(signal_row=signal_row, book=book, epoch=epoch):
                ours = signal_row in self.in_flight
                self.book = book if ours and not self.moved_in_flight else None
                if ours and (self.in_flight_roll or signal_row != max(self.in_flight)):
                    # A roll step's commit stored the roll's next step, which goes first; a batch committed only in
                    # part (basso/actors/deciding.py, the RiskGuard) left the rest pending: what is pending is re-read.
                    self.ahead.clear()
                if ours and book is None and len(self.in_flight) > 1:
                    self.singly_until = max(self.in_flight)
                self.book_epoch = epoch
                if self.book is None:
                    self.ahead.clear()  # our view of what is pending may be stale too
                if ours:
                    self.in_flight = frozenset()
                    self.moved_in_flight = False
                    self.context.turn.decided()
            case Rebuild():
                self.book = None  # another leader may have changed the facts since this book was read
                self.ahead.clear()
                self.moved_in_flight = bool(self.in_flight)
                if self.ref.mailbox.unhandled:
                    # More is waiting (a burst of fills tells one Rebuild each): the last of them reads the facts,
                    # once, and whatever comes next hands out the next signal.
                    return
            case Poll():
                pass
        if not self.in_flight:
            await self._hand_out_next()

    async def _hand_out_next(self) -> None:
        turn = self.context.turn
        await turn.decide()
        try:
            await self._hand_out(turn)
        finally:
            if not self.in_flight:  # nothing pending, or interrupted before handing out: the desk may record
                turn.decided()

    async def _hand_out(self, turn: BookTurn) -> None:
        epoch = self.context.epoch()
        if self.book_epoch != epoch:  # a new term: another leader may have changed the facts meanwhile
            self.book, self.book_epoch = None, epoch
            self.ahead.clear()
        if turn.writes != self.writes_seen:  # the order desk recorded meanwhile: a fill, or a roll's orders ended
            self.book = None
            self.ahead.clear()  # and what was held back for those orders may be pending now
        pending = await self._next_pending()
        if pending is None:
            return
        if self.book is None:
            config = self.context.config
            self.writes_seen = turn.writes
            self.book = await self.db.run(lambda conn: load_book(conn, config), what="receiver: book")
        stage = stage_of(pending.payload)
        then = self._batch_after(pending, stage)
        self.in_flight = frozenset((pending.id, *(p.id for p in then)))
        self.in_flight_roll = stage == "rollover"
        stages = self.context.stages
        decide = Decide(
            pending=pending,
            book=self.book,
            then=then,
            stop_at_orders=self.context.fills_at_once,
            cause_id=pending.id,
            epoch=epoch,
        )
        match stage:
            case "stop_trailer":
                await self.send(stages.stop_trailer, decide)
            case "rollover":
                await self.send(stages.rollover, decide)
            case _:
                await self.send(stages.sizer, decide)

    def _batch_after(self, first: PendingSignal, stage: str) -> tuple[PendingSignal, ...]:
        """The signals read ahead right after `first` that its stage decides too, to hand out with it: bar closes;
        entries, pyramids and exits unless the broker fills at once; never roll steps; none while going one at a
        time."""
        if stage == "rollover" or (stage == "sizer" and self.context.fills_at_once) or first.id <= self.singly_until:
            return ()
        batch: list[PendingSignal] = []
        ahead = self.ahead
        while (
            ahead and len(batch) < BATCH - 1 and ahead[0].id > self.singly_until and stage_of(ahead[0].payload) == stage
        ):
            batch.append(ahead.popleft())
        return tuple(batch)

    async def _next_pending(self) -> PendingSignal | None:
        if not self.ahead:
            self.ahead.extend(
                await self.db.run(lambda conn: pending_signals(conn, limit=READ_AHEAD), what="receiver: next signals")
            )
        return self.ahead.popleft() if self.ahead else None
