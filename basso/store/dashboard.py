"""What only the dashboard reads: a fingerprint of the facts (has anything changed since the page was drawn?),
equity over time from its marks, the last bar close per instrument, and the orders still working. Read-only; any
instance."""

from __future__ import annotations

from datetime import UTC, datetime

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


async def equity_history(db: Executor, *, since: datetime | None, points: int) -> list[asyncpg.Record]:
    """Equity over time from the equity marks (sql/012) at or after `since` (all of them if None), oldest first,
    at most `points` rows: with more marks than that, the window's span is cut into `points` equal stretches of
    time and each stretch gives its last mark (the state it ended in) with the worst drawdown of closed equity
    below its high water anywhere in it, so no dip is smoothed away. Each row: `at`, `closed`, `unrealised`
    (None before sql/012), `high_water`, `drawdown` (a fraction) and `marks` (how many marks it stands for)."""
    start = since or datetime.min.replace(tzinfo=UTC)
    span = await db.fetchrow(
        "SELECT min(at) AS first, max(at) AS last,"
        " (SELECT count(*) FROM (SELECT FROM equity_marks WHERE at >= $1 LIMIT $2 + 1) enough) AS n"
        " FROM equity_marks WHERE at >= $1",
        start,
        points,
    )
    assert span is not None
    if span["n"] <= points:
        return await db.fetch(
            "SELECT at, closed, unrealised, high_water, drawdown, 1 AS marks FROM equity_marks WHERE at >= $1"
            " ORDER BY id",
            start,
        )
    first, width = span["first"], span["last"] - span["first"]
    edges = [first + width * k / points for k in range(1, points)]
    # One pass over the window's marks (width_bucket: a binary search in `edges`), then the last mark of each
    # stretch by its key.
    return await db.fetch(
        "SELECT e.at, e.closed, e.unrealised, e.high_water, s.drawdown, s.marks FROM ("
        "  SELECT max(id) AS last, max(drawdown) AS drawdown, count(*) AS marks FROM equity_marks"
        "  WHERE at >= $1 GROUP BY width_bucket(at, $2::timestamptz[])) s"
        " CROSS JOIN LATERAL (SELECT at, closed, unrealised, high_water FROM equity_marks WHERE id = s.last) e"
        " ORDER BY s.last",
        start,
        edges,
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
