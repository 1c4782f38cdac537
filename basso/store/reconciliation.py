"""Reconciliation's facts: what we hold per broker symbol, and each check's result (sql/009)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from basso.store.fence import fenced
from basso.store.types import Connection, Executor

__all__ = ["breaks_of", "held_lots", "latest_reconciliation", "record_reconciliation"]


async def held_lots(db: Executor) -> tuple[dict[tuple[str, str, float], int], set[str]]:
    """The lots the broker should hold, by (instrument, symbol, point value) — what filled of each layer, and of
    each layer being exited what is not sold yet — and the symbols with an order still working, or of a roll under
    way, whose quantity is moving and cannot be compared now."""
    rows = await db.fetch(
        "SELECT p.instrument, coalesce(nullif(p.contract, ''), p.instrument) AS symbol, p.point_value,"
        " CASE p.status WHEN 'open' THEN p.lots"
        "  WHEN 'closing' THEN p.lots - coalesce((SELECT sum(o.filled_lots) FROM orders o"
        "   WHERE o.position = p.id AND o.side = 'SELL'), 0)"
        "  ELSE coalesce((SELECT sum(o.filled_lots) FROM orders o WHERE o.position = p.id AND o.side = 'BUY'), 0)"
        " END AS lots FROM positions p WHERE p.status <> 'closed'"
    )
    held: dict[tuple[str, str, float], int] = {}
    for r in rows:
        key = (r["instrument"], r["symbol"], float(r["point_value"]))
        held[key] = held.get(key, 0) + int(r["lots"])
    # A roll between its first and last step moves the instrument's lots from one contract to the other (sql/014).
    moving = {
        r["symbol"]
        for r in await db.fetch(
            "SELECT coalesce(nullif(p.contract, ''), p.instrument) AS symbol FROM orders o"
            " JOIN positions p ON p.id = o.position WHERE o.status IN ('pending', 'sent', 'partial', 'unknown')"
            " UNION SELECT o.symbol FROM orders o WHERE o.roll IS NOT NULL"
            " AND o.status IN ('pending', 'sent', 'partial', 'unknown')"
            " UNION SELECT unnest(ARRAY[r.old_contract, r.new_contract]) FROM rolls r"
            " WHERE r.state IN ('closing_old', 'opening_new')"
        )
    }
    return held, moving


async def record_reconciliation(
    conn: Connection, *, epoch: int, at: datetime, breaks: list[dict[str, Any]], error: str
) -> None:
    """One check's result, fenced: only the leader's reconciliation decides what is blocked."""
    async with fenced(conn, epoch):
        await conn.execute(
            "INSERT INTO reconciliations (at, epoch, matched, breaks, error) VALUES ($1, $2, $3, $4::jsonb, $5)",
            at,
            epoch,
            not breaks and not error,
            orjson.dumps(breaks).decode(),
            error[:500],
        )


async def latest_reconciliation(db: Executor) -> asyncpg.Record | None:
    """The newest check, if any."""
    return await db.fetchrow("SELECT at, epoch, matched, breaks, error FROM reconciliations ORDER BY id DESC LIMIT 1")


def breaks_of(breaks: str, error: str) -> dict[str, str]:
    """Instrument → why its entries wait, from a check that did not match (its `breaks` JSON and `error`): "*",
    every instrument, when the position book could not be read."""
    if error:
        return {"*": f"the broker's position book could not be read: {error}"}
    return {
        b["instrument"]: f"reconciliation break on {b['symbol']}: {b['kind']} (expected {b['expected']}, "
        f"at the broker {b['at_broker']})"
        for b in orjson.loads(breaks)
    }
