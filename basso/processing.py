"""Processing one stored signal: decide, execute, settle, commit — the steps the pipeline actors run.

Each step is a small function so the actors (Sizer → RiskGuard → executor → Persister) and the tests can
call them alike. `Processor.process_next` runs the whole chain for the oldest pending signal; the book
advances only after the commit succeeded, and any failure leaves the signal pending and the book reloaded
from the facts, so a crash anywhere is followed by a clean retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from basso.book import Book, Fill
from basso.config import Config
from basso.decisions import Decision, decide
from basso.enums import SignalOutcome
from basso.paper import paper_fills
from basso.settlement import Settlement, settle
from basso.signals import SignalError, signal_from_object
from basso.store.book import load_book
from basso.store.outcomes import AlreadyProcessed, PendingSignal, commit_outcome, next_pending

log = logging.getLogger(__name__)


def decide_stored(pending: PendingSignal, book: Book, config: Config) -> Decision:
    """The decision for a stored signal; a payload the current configuration refuses is rejected, not crashed."""
    try:
        signal = signal_from_object(pending.payload, config)
    except SignalError as exc:
        return Decision(outcome=SignalOutcome.REJECTED, reason=f"invalid under the current configuration: {exc}")
    return decide(signal, book, config)


def execute_paper(decision: Decision, config: Config) -> list[Fill]:
    """The paper broker's fills for an executed decision (none for any other outcome)."""
    return paper_fills(decision, config) if decision.outcome is SignalOutcome.EXECUTED else []


@dataclass
class Processor:
    """The whole chain for one signal at a time, against a book that includes every earlier signal."""

    pool: asyncpg.Pool
    config: Config
    epoch: int
    wall_clock: Callable[[], datetime]
    book: Book | None = None
    on_outcome: Callable[[PendingSignal, Settlement], None] = field(default=lambda _p, _s: None)

    async def reload(self) -> Book:
        """Rebuild the book from the facts (at start, after a crash, after another writer)."""
        self.book = await load_book(self.pool, self.config)
        return self.book

    async def process_next(self) -> bool:
        """Process the oldest pending signal; False when there is none."""
        pending = await next_pending(self.pool)
        if pending is None:
            return False
        await self.process(pending)
        return True

    async def process(self, pending: PendingSignal) -> None:
        """Decide, execute, settle and commit one pending signal."""
        book = self.book or await self.reload()
        decision = decide_stored(pending, book, self.config)
        settlement = settle(decision, execute_paper(decision, self.config), book, self.config)
        try:
            await self.commit(pending, settlement)
        except AlreadyProcessed:
            await self.reload()
            return
        except BaseException:
            self.book = None  # the commit's fate is unknown: the next signal starts from the facts
            raise
        self.book = settlement.book
        self.on_outcome(pending, settlement)

    async def commit(self, pending: PendingSignal, settlement: Settlement) -> None:
        """Write the settlement as the signal's outcome, fenced by this processor's epoch."""
        async with self.pool.acquire() as conn:
            await commit_outcome(conn, epoch=self.epoch, signal=pending, settlement=settlement,
                                 at=self.wall_clock())
