"""The drawdown peak's stored facts (docs/rules.md §2, sql/006): each exchange day's highest sizing equity, moved by
capital flows and replaced by an operator's reset; the last reset; and the alerts a change of band raises."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from basso.rules.alert import Alert
from basso.rules.money import to_money
from basso.store.alerts import raise_alert
from basso.store.types import Connection, Executor


class BookMoved(Exception):
    """The facts changed since the book a peak move was computed from: nothing was written; compute it again."""


async def hold_version(conn: Connection, version: int) -> None:
    """Lock the controls row inside the caller's transaction; BookMoved unless the facts are at `version`."""
    stored: int = await conn.fetchval("SELECT book_version FROM controls WHERE id = 1 FOR UPDATE")
    if stored != version:
        raise BookMoved(f"the book moved from version {version} to {stored}")


async def move_peaks(conn: Connection, *, factor: float, add: float) -> None:
    """Every day's peak becomes peak × factor + add, to the paisa (a capital flow, `peak_after_capital`)."""
    await conn.execute(
        "UPDATE equity_peaks SET peak = round(peak * $1::numeric + $2::numeric, 2)", str(factor), str(add)
    )


async def raise_alerts(conn: Connection, alerts: Sequence[Alert], *, at: datetime) -> None:
    """Store `alerts` (inside the caller's transaction, with the fact that raised them)."""
    for alert in alerts:
        await raise_alert(
            conn,
            at=at,
            level=alert.level,
            kind=alert.kind,
            message=alert.message,
            instrument=alert.instrument,
            detail=alert.detail,
        )


async def reset_peak(
    conn: Connection,
    *,
    version: int,
    day: date,
    equity: float,
    at: datetime,
    actor: str,
    reason: str,
    alerts: Sequence[Alert] = (),
) -> None:
    """Replace every day's peak with today's equity, record the reset and audit it, in one transaction; the
    facts' version moves on, so no decision made against the old peak can commit. BookMoved if the facts are
    no longer at `version` (nothing written)."""
    peak = to_money(round(equity, 2))
    async with conn.transaction():
        await hold_version(conn, version)
        before: Decimal | None = await conn.fetchval("SELECT max(peak) FROM equity_peaks")
        await conn.execute("DELETE FROM equity_peaks")
        await conn.execute("INSERT INTO equity_peaks (day, peak) VALUES ($1, $2)", day, peak)
        await conn.execute(
            "UPDATE controls SET book_version = book_version + 1, peak_reset_at = $1,"
            " peak_reset_by = $2, peak_reset_reason = $3 WHERE id = 1",
            at,
            actor,
            reason,
        )
        await conn.execute(
            "INSERT INTO control_audit (at, action, actor, detail) VALUES ($1, 'drawdown reset', $2, $3)",
            at,
            actor,
            f"{reason}: peak ₹{before if before is not None else '-'} → ₹{peak}",
        )
        await raise_alerts(conn, alerts, at=at)


async def last_reset(db: Executor) -> asyncpg.Record | None:
    """When the drawdown peak was last reset, by whom and why (None if never)."""
    row = await db.fetchrow(
        "SELECT peak_reset_at AS at, peak_reset_by AS by, peak_reset_reason AS reason"
        " FROM controls WHERE id = 1 AND peak_reset_at IS NOT NULL"
    )
    return row
