"""Signals pending in a row are decided as a batch when the broker takes its time (basso/actors/deciding.py): the
SignalReceiver hands them out together, each is decided against the book the one before leaves, and the RiskGuard
ends the batch at an entry it blocks, so the signals after it are decided again against a book without that entry
(real PostgreSQL). With a broker that fills at once (paper) entries, pyramids and exits still go one at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from basso.actors.base import ActorRef
from basso.actors.deciding import decide_in_turn
from basso.actors.risk_guard import RiskGuard, RiskGuardContext
from basso.config import Config
from basso.enums import SignalOutcome
from basso.messages import Decide, Decided, PersisterInbox
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.inbox import store_signal
from basso.store.outcomes import pending_signals
from basso.store.reconciliation import record_reconciliation
from basso.supervisor import ChildSpec, Supervisor
from tests.pipeline_support import PROCESSED_AT, receiving
from tests.store.test_outcomes import leader_with_an_entry
from tests.web.test_webhook import payload

BAR: dict[str, Any] = {
    "type": "MARKET_DATA",
    "instrument": "GOLD_MINI",
    "price": 72100,
    "atr": 500,
    "timestamp": "2026-11-25T10:31:00",
}


async def stored(pool: asyncpg.Pool, config: Config, *bodies: dict[str, Any]) -> int:
    """A leader with the Bank Nifty base entry stored, then `bodies` in order: the leader's epoch."""
    async with pool.acquire() as conn:
        epoch, _entry = await leader_with_an_entry(conn, config, "solo")
        for body in bodies:
            await store_signal(conn, signal_from_object(body, config))
    return epoch


ROW = (
    payload("BASE_ENTRY_GOLD_MINI", timestamp="2026-11-25T10:30:00"),
    payload("EXIT_ALL", timestamp="2026-11-25T10:30:00"),
    BAR,
)


@pytest.mark.parametrize("fills_at_once", [False, True], ids=["openalgo", "paper"])
async def test_the_entries_and_exits_pending_in_a_row_go_out_together_unless_the_broker_fills_at_once(
    pool: asyncpg.Pool, config: Config, fills_at_once: bool
) -> None:
    epoch = await stored(pool, config, *ROW)
    async with pool.acquire() as conn:
        bank_nifty, gold, exit_all, bar = await pending_signals(conn, limit=10)
    async with receiving(pool, config, lambda: epoch, fills_at_once=fills_at_once) as (_receiver, sizer):
        decide = await asyncio.wait_for(sizer.mailbox.get(), 10)
    assert isinstance(decide, Decide)
    assert decide.pending.id == bank_nifty.id
    assert decide.stop_at_orders is fills_at_once
    if fills_at_once:
        assert decide.then == ()  # each entry's fills come before the next decision
    else:  # the bar close after them is the StopTrailer's: not in the Sizer's batch
        assert [p.id for p in decide.then] == [gold.id, exit_all.id]
        assert bar.id not in {p.id for p in decide.then}


async def decided_as_a_batch(pool: asyncpg.Pool, config: Config) -> Decided:
    """The three pending signals (Bank Nifty entry, Gold Mini entry, EXIT ALL of Bank Nifty) decided as one batch
    against the stored facts."""
    async with pool.acquire() as conn:
        book = await load_book(conn, config)
        first, *then = await pending_signals(conn, limit=10)
    decide = Decide(pending=first, book=book, then=tuple(then), stop_at_orders=False, epoch=1)
    return decide_in_turn(decide, config)


async def guarded(pool: asyncpg.Pool, decided: Decided) -> Decided:
    """`decided` through a RiskGuard: what it hands the Persister."""
    persister: ActorRef[PersisterInbox] = ActorRef("persister")
    guard: ActorRef[Decided] = ActorRef("risk_guard")
    context = RiskGuardContext(pool=pool, persister=persister, wall_clock=lambda: PROCESSED_AT)
    async with Supervisor(
        name="root", children=[ChildSpec(name="risk_guard", factory=lambda: RiskGuard(context), ref=guard)]
    ):
        await guard.tell(decided)
        passed = await asyncio.wait_for(persister.mailbox.get(), 10)
    assert isinstance(passed, Decided)
    return passed


async def test_a_batch_is_decided_in_turn_and_passes_the_risk_guard_whole(pool: asyncpg.Pool, config: Config) -> None:
    await stored(pool, config, *ROW[:2])
    decided = await decided_as_a_batch(pool, config)
    # Each against the book the one before leaves: the exit sells the Bank Nifty layer the entry has working.
    entry, gold = decided.earlier
    assert [s.decision.outcome for s in (entry, gold, decided)] == [SignalOutcome.EXECUTED] * 3
    assert gold.working is not None
    assert decided.book == gold.working.book
    assert [(e.instrument, e.layer) for e in decided.decision.exits] == [("BANK_NIFTY", 1)]
    passed = await guarded(pool, decided)
    assert passed == decided


async def test_an_entry_the_risk_guard_blocks_ends_the_batch_and_what_follows_stays_pending(
    pool: asyncpg.Pool, config: Config
) -> None:
    epoch = await stored(pool, config, *ROW[:2])
    async with pool.acquire() as conn:
        # The broker holds no Gold Mini we hold: entries on it wait (docs/rules.md §8); Bank Nifty is not blocked.
        breaks = [{"instrument": "GOLD_MINI", "symbol": "GOLDM", "kind": "missing", "expected": 0, "at_broker": 10}]
        await record_reconciliation(conn, epoch=epoch, at=PROCESSED_AT, breaks=breaks, error="")
    decided = await decided_as_a_batch(pool, config)
    passed = await guarded(pool, decided)
    entry, gold = decided.earlier
    # Committed: the Bank Nifty entry as decided, then the Gold Mini entry blocked (its working order dropped:
    # the Persister works the blocked decision out afresh). The exit was decided against a book holding Gold
    # Mini's working order: it is not committed with them, and is decided again.
    assert passed.pending == gold.pending
    assert passed.decision.outcome is SignalOutcome.BLOCKED
    assert passed.decision.reason.startswith("reconciliation break on GOLDM")
    assert passed.decision.entries == ()
    assert passed.working is None
    assert passed.earlier == (entry,)
