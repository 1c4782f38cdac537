"""What only the dashboard reads: a fingerprint of the facts (has anything changed since the page was drawn?),
closed equity over time from the ledger, the last bar close per instrument, and the orders still working.
Read-only; any instance."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from basso.store.orders import WORKING
from basso.store.types import Executor


async def fingerprint(db: Executor) -> str:
    """A short string that changes whenever anything the dashboard shows changes: the book's version (every
    outcome, capital move and kill-switch change moves it), the newest signal (a stored signal shows as
    pending at once), the alerts (raised or acknowledged), the fence (a new leader), the kill switch, the newest
    reconciliation, and each working order's state (a placement or an unknown outcome moves no version: only
    fills, rejects and cancels do). The working orders are few and indexed (sql/010's orders_working)."""
    row = await db.fetchrow(
        "SELECT c.book_version, c.kill_switch, f.epoch,"
        " (SELECT coalesce(max(id), 0) FROM signals) AS signal,"
        " (SELECT coalesce(max(id), 0) FROM alerts) AS alert,"
        " (SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL) AS open_alerts,"
        " (SELECT coalesce(max(id), 0) FROM reconciliations) AS reconciliation,"
        " (SELECT coalesce(sum(hashtext(concat_ws(':', id, status, checks, broker_order_id))), 0) FROM orders"
        "  WHERE status IN ('pending', 'sent', 'partial', 'unknown')) AS orders"
        " FROM controls c, leader_fence f WHERE c.id = 1 AND f.id = 1"
    )
    assert row is not None, "the controls and fence rows are created by the first migration"
    keys = ("book_version", "kill_switch", "epoch", "signal", "alert", "open_alerts", "reconciliation", "orders")
    return "-".join(str(row[key]) for key in keys)


async def closed_equity_history(db: Executor, points: int) -> list[asyncpg.Record]:
    """Closed equity after each of the newest `points` ledger rows, newest first (`at`, `equity`). Each is the
    whole ledger's sum less the rows after it, so only the newest rows are read in order, however long the
    ledger is."""
    return await db.fetch(
        "SELECT at, (SELECT coalesce(sum(amount), 0) FROM ledger)"
        " - coalesce(sum(amount) OVER (ORDER BY id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
        " AS equity FROM (SELECT id, at, amount FROM ledger ORDER BY id DESC LIMIT $1) newest ORDER BY id DESC",
        points,
    )


async def last_bar_closes(db: Executor, instruments: list[str]) -> dict[str, datetime | None]:
    """When the newest applied bar close of each instrument was stamped (None: none yet). One index probe per
    instrument (sql/009's partial index), however many signals are stored."""
    rows = await db.fetch(
        "SELECT i.name, (SELECT max(s.signal_time) FROM signals s WHERE s.kind = 'MARKET_DATA'"
        " AND s.outcome = 'executed' AND s.instrument = i.name) AS at FROM unnest($1::text[]) AS i(name)",
        instruments,
    )
    return {row["name"]: row["at"] for row in rows}


async def working_orders(db: Executor, limit: int) -> list[asyncpg.Record]:
    """Orders not yet done — committed but not sent (`pending`), sent and working (`sent`), part-filled
    (`partial`), or of unknown outcome (`unknown`) — oldest first, with the layer and contract they are for. The
    paper broker fills at once, so there the list is empty but for a moment."""
    return await db.fetch(
        "SELECT o.id, o.client_id, o.instrument, coalesce(nullif(p.contract, ''), o.symbol) AS symbol, p.layer,"
        " o.side, o.lots, o.filled_lots, o.quantity, o.price, o.status, o.broker_order_id, o.reason, o.checks,"
        " o.created_at, o.updated_at"
        " FROM orders o LEFT JOIN positions p ON p.id = o.position"
        " WHERE o.status = ANY($2::text[]) ORDER BY o.id LIMIT $1",
        limit,
        list(WORKING),
    )
