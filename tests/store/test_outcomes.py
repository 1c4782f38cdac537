"""Committing an outcome: all of it in one fenced transaction, once, and never by a stale leader."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from basso.config import Config
from basso.enums import LedgerKind
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.capital import deposit_if_empty, move_capital
from basso.store.fence import FenceLost, take_fence
from basso.store.inbox import store_signal
from basso.store.outcomes import AlreadyProcessed, PendingSignal, StaleBook, commit_outcome, next_pending
from basso.store.types import Connection
from tests.replay import settled

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
ENTRY = {
    "type": "BASE_ENTRY",
    "instrument": "BANK_NIFTY",
    "position": "Long_1",
    "price": 52000,
    "stop": 51650,
    "lots": 5,
    "atr": 350,
    "er": 0.82,
    "supertrend": 51650,
    "timestamp": "2026-11-25T10:30:00",
}


async def leader_with_an_entry(conn: Connection, config: Config, holder: str) -> tuple[int, PendingSignal]:
    """Take the fence as `holder`, deposit ₹50 L and store the Bank Nifty base entry: the epoch and the entry."""
    epoch = await take_fence(conn, holder, "startup")
    await deposit_if_empty(conn, epoch=epoch, amount=Decimal(5_000_000), at=AT)
    await store_signal(conn, signal_from_object(ENTRY, config))
    pending = await next_pending(conn)
    assert pending is not None
    return epoch, pending


async def test_one_commit_writes_everything_and_a_stale_or_repeated_one_writes_nothing(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        old, pending = await leader_with_an_entry(conn, config, "old")
        settlement = settled(pending, await load_book(conn, config), config)
        new = await take_fence(conn, "new", "takeover")
        with pytest.raises(FenceLost):
            await commit_outcome(conn, epoch=old, signal=pending, settlement=settlement, at=AT)
        assert await conn.fetchval("SELECT outcome FROM signals") == "pending"
        assert await conn.fetchval("SELECT count(*) FROM positions") == 0
        await commit_outcome(conn, epoch=new, signal=pending, settlement=settlement, at=AT)
        with pytest.raises(AlreadyProcessed):
            await commit_outcome(conn, epoch=new, signal=pending, settlement=settlement, at=AT)
        # 1 lot at 52,000, stop 51,650; commission 52,000 × 30 × 0.05 % = ₹780; one order, one ledger row.
        position = await conn.fetchrow("SELECT layer, lots, entry_price, current_stop, status FROM positions")
        assert position is not None
        assert tuple(position) == (1, 1, Decimal("52000.0000"), Decimal("51650.0000"), "open")
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("4999220.00")
        assert await conn.fetchval("SELECT outcome FROM signals") == "executed"
        reloaded = await load_book(conn, config)
        assert reloaded.layers == settlement.book.layers
        # The drawdown survives a restart: the peak is ₹50,00,000 (the equity before the entry), the blended
        # equity now 50,00,000 − 780 = ₹49,99,220, so 780 ÷ 50,00,000 = 0.0156 %.
        assert round(reloaded.drawdown_pct(config), 4) == 0.0156
    finally:
        await conn.close()


async def test_a_decision_made_against_a_stale_book_is_refused_and_writes_nothing(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, pending = await leader_with_an_entry(conn, config, "solo")
        stale = await load_book(conn, config)
        # The facts change after the book was read: ₹10 L more capital would size the entry differently.
        await move_capital(conn, epoch=epoch, kind=LedgerKind.DEPOSIT, amount=Decimal(1_000_000), at=AT, note="top-up")
        settlement = settled(pending, stale, config)
        with pytest.raises(StaleBook, match="version 1, the facts are at version 2"):
            await commit_outcome(conn, epoch=epoch, signal=pending, settlement=settlement, at=AT)
        assert await conn.fetchval("SELECT outcome FROM signals") == "pending"
        assert await conn.fetchval("SELECT count(*) FROM positions") == 0
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("6000000.00")
        # Decided again against the facts, it commits: equity ₹60 L gives Lot-R = 60,00,000 × 0.5 % ÷ (350 × 30)
        # × 0.82 = 2.34 ⇒ 2 lots (Lot-V = 30,000 ÷ 10,500 = 2.86).
        settlement = settled(pending, await load_book(conn, config), config)
        assert settlement.decision.record["lots"] == 2
        await commit_outcome(conn, epoch=epoch, signal=pending, settlement=settlement, at=AT)
        assert await conn.fetchval("SELECT book_version FROM controls") == 3
    finally:
        await conn.close()
