"""Alerts (docs/rules.md §10): raised by whoever notices, listed by the API and the dashboard, acknowledged by the
operator. An alert with a `dedupe` key is raised once while it stays unacknowledged, so a condition that
persists (a reconciliation break seen every five minutes) is one alert, not hundreds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from basso.enums import AlertLevel
from basso.store.types import Executor


async def raise_alert(
    db: Executor,
    *,
    at: datetime,
    level: AlertLevel,
    kind: str,
    message: str,
    instrument: str | None = None,
    detail: dict[str, Any] | None = None,
    dedupe: str | None = None,
) -> int | None:
    """Record an alert; its id, or None if an unacknowledged alert with the same `dedupe` key is open."""
    alert_id: int | None = await db.fetchval(
        "INSERT INTO alerts (at, level, kind, instrument, message, detail, dedupe)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)"
        " ON CONFLICT (dedupe) WHERE dedupe IS NOT NULL AND acknowledged_at IS NULL DO NOTHING RETURNING id",
        at,
        level.value,
        kind,
        instrument,
        message,
        orjson.dumps(detail or {}).decode(),
        dedupe,
    )
    return alert_id


async def newest_alerts(db: Executor, *, limit: int, unacknowledged_only: bool = False) -> list[asyncpg.Record]:
    """The newest `limit` alerts (only the unacknowledged ones if asked)."""
    return await db.fetch(
        "SELECT id, at, level, kind, instrument, message, detail, acknowledged_at, acknowledged_by FROM alerts"
        " WHERE NOT $2 OR acknowledged_at IS NULL ORDER BY id DESC LIMIT $1",
        limit,
        unacknowledged_only,
    )


async def unacknowledged_count(db: Executor) -> int:
    """How many alerts wait for the operator."""
    count: int = await db.fetchval("SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL")
    return count


async def acknowledge(db: Executor, alert_id: int, *, at: datetime, by: str) -> bool | None:
    """Acknowledge one alert: True if it was open, False if already acknowledged, None if there is no such alert."""
    row = await db.fetchrow(
        "UPDATE alerts a SET acknowledged_at = coalesce(a.acknowledged_at, $2),"
        " acknowledged_by = coalesce(a.acknowledged_by, $3)"
        " FROM (SELECT id, acknowledged_at FROM alerts WHERE id = $1 FOR UPDATE) before WHERE a.id = before.id"
        " RETURNING before.acknowledged_at IS NULL AS changed",
        alert_id,
        at,
        by,
    )
    return None if row is None else bool(row["changed"])
