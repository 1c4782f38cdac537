"""Persister: owns every write of an outcome, each in one transaction fenced by the leader epoch.

Orders take two steps (docs/architecture.md "Exactly once"). A `Decided` signal is committed with its layers
`opening` / `closing` and their orders `pending`; the orders then go to the Executor. A broker that fills at
once (paper) answers with `Filled`, each fill its own transaction, and only then does the SignalReceiver hear
`Committed` with the book after the fills: so with the paper broker every decision is made against the book
the backtest would hold. A broker that takes its time (OpenAlgo) does not hold the SignalReceiver up: it hears
`Committed` with the book counting the working orders, and each later fill tells it to rebuild. A roll step
(`RollSettled`) is committed whole, in one transaction of its own.

If nothing was written because the outcome was already committed (a redelivery after a crash) the signal's
orders are handed to the Executor again (it reads them from the facts and does what is left to do); if the
decision was made against a stale book, the SignalReceiver decides the signal again. While PostgreSQL is
unreachable it waits and retries: an outage is not the message's fault. If a newer leader holds the fence,
nothing was written either: it reports the loss (the pipeline stops trading) and keeps the message, so the
signal stays pending for whoever leads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.config import Config
from basso.messages import (
    Committed,
    Decided,
    ExecutorInbox,
    Filled,
    Message,
    PersisterInbox,
    Place,
    Rebuild,
    ReceiverInbox,
    RollSettled,
    Settled,
)
from basso.rules.book import Fill
from basso.rules.contracts import contract_now
from basso.rules.orders import OrderTicket, fill_book, work
from basso.store.fence import FenceLost
from basso.store.orders import AfterFills, record_fill
from basso.store.outcomes import AlreadyProcessed, StaleBook, Step, commit_decisions
from basso.store.rolls import commit_roll_step
from basso.store.types import Connection

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersisterContext:
    """The pool, the epoch that fences every write, the wall clock, the SignalReceiver, the Executor and the
    outcome callbacks; `broker` names the broker orders go to and `fills_at_once` says whether it fills them at
    once."""

    pool: asyncpg.Pool
    config: Config  # the instruments and calendars that say which contract a new layer goes into
    epoch: Callable[[], int]  # the epoch this instance trades at now
    wall_clock: Callable[[], datetime]
    receiver: ActorRef[ReceiverInbox]
    executor: ActorRef[ExecutorInbox]
    on_commit: Callable[[Settled], None]
    on_roll_step: Callable[[RollSettled], None] = lambda _step: None
    on_fence_lost: Callable[[FenceLost], None]
    broker: str = "paper"
    fills_at_once: bool = True


class Persister(DatabaseActor[PersisterInbox]):
    """Commits decisions, fills and roll steps, and reports back to the SignalReceiver."""

    def __init__(self, context: PersisterContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: PersisterInbox) -> None:
        match message:
            case Decided():
                await self._decided(message)
            case Filled():
                await self._filled(message)
            case RollSettled():
                await self._roll_step(message)

    async def _decided(self, message: Decided) -> None:
        context = self.context
        at = context.wall_clock()
        pending = message.pending
        # A batch (`earlier`) commits with its last in one transaction: all of them or none.
        steps = (*message.earlier, message)
        workings = [
            s.working or work(s.decision, s.book, context.config, key=s.pending.key, signal=s.pending.id) for s in steps
        ]
        working = workings[-1]
        batch = [
            Step(
                signal=step.pending,
                working=done,
                contracts={e.instrument: contract_now(context.config, e.instrument, at) for e in step.decision.entries},
            )
            for step, done in zip(steps, workings, strict=True)
        ]
        # A decision from an earlier term never commits: the message's epoch fences it.
        commit = partial(commit_decisions, epoch=message.epoch, steps=batch, at=at, broker=context.broker)
        try:
            await self.db.run(commit, what="persister: commit")
        except FenceLost as exc:
            await self._fence_lost(message, pending.id, exc)
            return
        except AlreadyProcessed:
            # Committed before a crash: its orders may not have reached the Executor. It reads them from the facts.
            for step in steps:
                await self.send(
                    context.executor, Place.following(step, signal_row=step.pending.id, pending=None, working=None)
                )
            if not context.fills_at_once:
                await self.send(context.receiver, Committed.following(message, signal_row=pending.id, book=None))
            return
        except StaleBook as exc:
            log.warning("%s; deciding it again", exc)
            await self.send(context.receiver, Committed.following(message, signal_row=pending.id, book=None))
            return
        for step, done in zip(steps, workings, strict=True):
            if done.tickets:
                await self.send(
                    context.executor,
                    Place.following(step, signal_row=step.pending.id, pending=step.pending, working=done),
                )
                if context.fills_at_once:
                    # Only a batch's last places orders then (basso/actors/deciding.py): the SignalReceiver hears
                    # once their fills are recorded.
                    return
            context.on_commit(Settled.following(step, pending=step.pending, decision=step.decision, book=done.book))
        await self.send(context.receiver, Committed.following(message, signal_row=pending.id, book=working.book))

    async def _fence_lost(self, message: Message, signal_row: int, exc: FenceLost) -> None:
        context = self.context
        if message.epoch != context.epoch():
            # Decided before this instance last took the lead: decide it again against the facts as they are.
            log.warning(
                "decision for signal %s made at epoch %d, now %d: deciding it again",
                signal_row,
                message.epoch,
                context.epoch(),
            )
            await self.send(context.receiver, Committed.following(message, signal_row=signal_row, book=None))
            return
        context.on_fence_lost(exc)  # closes the gate: this message is kept, not acknowledged

    async def _record(
        self, ticket: OrderTicket, fill: Fill, *, epoch: int, at: datetime, after: AfterFills | None
    ) -> int | None:
        async def write(conn: Connection) -> int | None:
            return await record_fill(
                conn,
                epoch=epoch,
                client_id=ticket.client_id,
                lots=fill.lots,
                price=fill.price,
                commission=fill.commission,
                at=at,
                after=after,
            )

        return await self.db.run(write, what="persister: fill")

    async def _filled(self, message: Filled) -> None:
        """Record each fill in its own transaction, at the current epoch (a fill is a fact whoever saw it)."""
        context = self.context
        epoch = context.epoch()
        at = context.wall_clock()
        working = message.working
        filling = None
        if working is not None and message.fills:
            filling = fill_book(
                working.book,
                message.fills,
                context.config,
                version=working.book.version + len(message.fills),
                drawdown_before=working.drawdown_before,
            )
        # The last fill's transaction keeps the day's peak and the band's alert.
        after = AfterFills.of(filling) if filling is not None else None
        recorded = 0
        version: int | None = None
        last = len(message.fills) - 1
        try:
            for n, (ticket, fill) in enumerate(message.fills):
                found = await self._record(ticket, fill, epoch=epoch, at=at, after=after if n == last else None)
                if found is not None:
                    recorded += 1
                    version = found
        except FenceLost as exc:
            context.on_fence_lost(exc)
            return
        book = filling.book if filling is not None else None
        if book is not None and (recorded != len(message.fills) or version != book.version):
            book = None  # a fill recorded before, or another write between: the SignalReceiver reads the facts
        if not context.fills_at_once:
            await self.send(context.receiver, Rebuild.following(message))
            return
        if message.pending is not None and working is not None and book is not None:
            context.on_commit(Settled.following(message, pending=message.pending, decision=working.decision, book=book))
        await self.send(context.receiver, Committed.following(message, signal_row=message.signal_row, book=book))

    async def _roll_step(self, message: RollSettled) -> None:
        commit = partial(
            commit_roll_step,
            epoch=message.epoch,
            version=message.book.version,
            signal=message.pending,
            reason=message.reason,
            record=message.record,
            at=self.context.wall_clock(),
            changes=message.changes,
            working=message.working,
            alerts=message.alerts,
        )
        try:
            await self.db.run(commit, what="persister: roll step")
        except FenceLost as exc:
            await self._fence_lost(message, message.pending.id, exc)
            return
        except (AlreadyProcessed, StaleBook) as exc:
            if isinstance(exc, StaleBook):
                log.warning("%s; deciding it again", exc)
            await self.send(
                self.context.receiver, Committed.following(message, signal_row=message.pending.id, book=None)
            )
            return
        self.context.on_roll_step(message)
        if message.working:  # a roll's orders for a real broker: sent once committed, like a decision's
            await self.send(
                self.context.executor,
                Place.following(message, signal_row=message.pending.id, pending=None, working=None),
            )
        await self.send(
            self.context.receiver, Committed.following(message, signal_row=message.pending.id, book=message.book)
        )
