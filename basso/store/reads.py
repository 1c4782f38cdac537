"""What the read API and the operator see: signals with their outcomes, the ledger, trades, open layers with
their marks, and who holds the fence. Read-only queries; any instance may run them."""

from __future__ import annotations

import asyncpg

from basso.store.types import Executor

_SIGNAL_COLUMNS = (
    "id, key, kind, instrument, layer, signal_time, received_at, outcome, reason, decision, processed_at, payload"
)


async def newest_signals(db: Executor, limit: int) -> list[asyncpg.Record]:
    """The newest `limit` stored signals, each with its outcome, reason and decision."""
    return await db.fetch(f"SELECT {_SIGNAL_COLUMNS} FROM signals ORDER BY id DESC LIMIT $1", limit)


async def signal_by_key(db: Executor, key: str) -> asyncpg.Record | None:
    """One stored signal by its idempotency key."""
    return await db.fetchrow(f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE key = $1", key)


async def newest_ledger_rows(db: Executor, limit: int) -> list[asyncpg.Record]:
    """The newest `limit` ledger rows."""
    return await db.fetch(
        "SELECT id, at, kind, amount, position, signal, note FROM ledger ORDER BY id DESC LIMIT $1", limit
    )


async def closed_equity(db: Executor) -> object:
    """The sum of the ledger (docs/rules.md §2: closed equity is nothing else)."""
    return await db.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger")


async def newest_trades(db: Executor, limit: int) -> list[asyncpg.Record]:
    """The newest `limit` closed layers with their realised P&L."""
    return await db.fetch(
        "SELECT id, instrument, layer, lots, entry_price, exit_price, opened_at, closed_at, exit_reason,"
        " realised_pnl FROM positions WHERE status = 'closed' ORDER BY closed_at DESC, id DESC LIMIT $1",
        limit,
    )


async def fence_holder(db: Executor) -> asyncpg.Record:
    """The fence's epoch, its holder and since when: on a follower, the instance that trades."""
    fence = await db.fetchrow("SELECT epoch, holder, changed_at FROM leader_fence WHERE id = 1")
    assert fence is not None, "the fence row is created by the first migration"
    return fence


async def dated_layers(db: Executor) -> list[asyncpg.Record]:
    """Open layers that know their contract, soonest expiry first (layers opened before sql/004 do not)."""
    return await db.fetch(
        "SELECT p.instrument, p.layer, p.lots, p.contract, p.expiry, m.price AS mark"
        " FROM positions p LEFT JOIN instrument_marks m USING (instrument)"
        " WHERE p.status <> 'closed' AND p.expiry IS NOT NULL ORDER BY p.expiry, p.instrument,"
        " p.layer"
    )


async def open_layers_with_marks(db: Executor) -> list[asyncpg.Record]:
    """Every layer not closed, with its stops and its instrument's latest mark."""
    return await db.fetch(
        "SELECT p.id, p.instrument, p.layer, p.status, p.lots, p.entry_price, p.initial_stop, p.current_stop,"
        " p.highest_close, p.point_value, p.contract, p.expiry, p.opened_at, m.price AS mark FROM positions p"
        " LEFT JOIN instrument_marks m USING (instrument) WHERE p.status <> 'closed' ORDER BY p.instrument, p.layer"
    )


async def pending_count(db: Executor) -> int:
    """How many stored signals wait for an outcome."""
    count: int = await db.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'")
    return count


async def orders_of_signal(db: Executor, signal: int) -> list[asyncpg.Record]:
    """The orders a signal's decision committed, in the order it committed them."""
    return await db.fetch(
        "SELECT client_id, instrument, side, lots, price, status, filled_lots, fill_price,"
        " broker_order_id, reason FROM orders WHERE signal = $1 ORDER BY id",
        signal,
    )


async def order_counts(db: Executor) -> dict[str, int]:
    """How many orders are in each state not yet done (pending, sent, partial, unknown)."""
    rows = await db.fetch(
        "SELECT status, count(*) AS n FROM orders"
        " WHERE status IN ('pending', 'sent', 'partial', 'unknown') GROUP BY status"
    )
    return {r["status"]: r["n"] for r in rows}
