"""Persister: owns every write of an outcome, each in one transaction fenced by the leader epoch.

After the commit it tells the SignalReceiver, with the book after the outcome. If nothing was written because the
outcome was already committed (a redelivery after a crash) or the decision was made against a stale book,
it tells the SignalReceiver to rebuild its book from the facts (and so to decide a stale signal again). While
PostgreSQL is unreachable it waits and retries: an outage is not the message's fault. If a newer leader
holds the fence, nothing was written either: it reports the loss (the pipeline stops trading) and keeps the
message, so the signal stays pending for whoever leads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.config import Config
from basso.messages import Committed, PersisterInbox, ReceiverInbox, RollSettled, Settled
from basso.rules.contracts import contract_now
from basso.store.fence import FenceLost
from basso.store.outcomes import AlreadyProcessed, StaleBook, commit_outcome
from basso.store.rolls import commit_roll_step
from basso.store.types import Connection

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersisterContext:
    """The pool, the epoch that fences every write, the wall clock, the SignalReceiver and an outcome callback."""

    pool: asyncpg.Pool
    config: Config  # the instruments and calendars that say which contract a new layer goes into
    epoch: Callable[[], int]  # the epoch this instance trades at now
    wall_clock: Callable[[], datetime]
    receiver: ActorRef[ReceiverInbox]
    on_commit: Callable[[Settled], None]
    on_roll_step: Callable[[RollSettled], None] = lambda _step: None
    on_fence_lost: Callable[[FenceLost], None]


class Persister(DatabaseActor[PersisterInbox]):
    """Commits settled outcomes and roll steps, and reports back to the SignalReceiver."""

    def __init__(self, context: PersisterContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: PersisterInbox) -> None:
        context = self.context
        at = context.wall_clock()
        commit: Callable[[Connection], Awaitable[None]]
        match message:
            case Settled(settlement=settlement):
                contracts = {
                    e.instrument: contract_now(context.config, e.instrument, at) for e in settlement.decision.entries
                }
                # Fenced by the epoch the decision was made under: a decision from an earlier term never commits.
                commit = partial(
                    commit_outcome,
                    epoch=message.epoch,
                    signal=message.pending,
                    settlement=settlement,
                    at=at,
                    contracts=contracts,
                )
                book = settlement.book
            case RollSettled():
                commit = partial(
                    commit_roll_step,
                    epoch=message.epoch,
                    version=message.book.version,
                    signal=message.pending,
                    reason=message.reason,
                    record=message.record,
                    at=at,
                    changes=message.changes,
                )
                book = message.book
        try:
            await self.db.run(commit, what="persister: commit")
        except FenceLost as exc:
            if message.epoch != context.epoch():
                # Decided before this instance last took the lead: decide it again against the facts as they are.
                log.warning(
                    "decision for signal %s made at epoch %d, now %d: deciding it again",
                    message.pending.id,
                    message.epoch,
                    context.epoch(),
                )
                await self.send(
                    context.receiver, Committed.following(message, signal_row=message.pending.id, book=None)
                )
                return
            self.context.on_fence_lost(exc)  # closes the gate: this message is kept, not acknowledged
            return
        except (AlreadyProcessed, StaleBook) as exc:
            if isinstance(exc, StaleBook):
                log.warning("%s; deciding it again", exc)
            await self.send(
                self.context.receiver, Committed.following(message, signal_row=message.pending.id, book=None)
            )
            return
        if isinstance(message, Settled):
            self.context.on_commit(message)
        else:
            self.context.on_roll_step(message)
        await self.send(self.context.receiver, Committed.following(message, signal_row=message.pending.id, book=book))
