"""Rebuilding the book from the stored facts: open layers, the ledger, marks and the kill switch.

Positions and the ledger are the truth; nothing aggregated is stored, so nothing can disagree. Corrupt
facts stop the caller with a message naming the row rather than trade on them ("corrupt data is worse
than no data").
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from basso.config import Config
from basso.rules.book import Book
from basso.rules.layers import Layer
from basso.store.types import Connection, Executor


class CorruptFacts(RuntimeError):
    """A stored fact is impossible (lots ≤ 0, unknown instrument, missing stop): refuse to trade on it."""


async def load_book(db: Executor, config: Config) -> Book:
    """The book as the stored facts say it is, read from one snapshot (a commit landing meanwhile is either
    wholly in it or wholly out of it)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _load(conn, config)
    return await _load(db, config)


async def _load(conn: Connection, config: Config) -> Book:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        controls = await conn.fetchrow("SELECT kill_switch, book_version FROM controls WHERE id = 1")
        assert controls is not None, "the controls row is created by the first migration"
        peaks = [
            (r["day"], float(r["peak"])) for r in await conn.fetch("SELECT day, peak FROM equity_peaks ORDER BY day")
        ]
        closed, high_water = await _equity(conn)
        layers = [
            _layer(row, config)
            for row in await conn.fetch(
                "SELECT id, instrument, layer, status, lots, entry_price, initial_stop, current_stop, highest_close,"
                " point_value FROM positions WHERE status IN ('opening', 'partial', 'open') ORDER BY instrument, layer"
            )
        ]
        marks = await conn.fetch("SELECT instrument, price, atr, at, bar_at FROM instrument_marks")
    # The peak's days are kept only for a window; all time, the highest day is the peak. The book learns
    # which day it is from the next signal (`Book.on_day`), or from whoever shows it.
    book = Book(
        closed_equity=closed,
        high_water=high_water,
        equity_peak=max((p for _, p in peaks), default=0.0),
        layers=tuple(layers),
        atr={r["instrument"]: float(r["atr"]) for r in marks},
        price={r["instrument"]: float(r["price"]) for r in marks},
        marked_at={r["instrument"]: r["at"] for r in marks},
        bar_at={r["instrument"]: r["bar_at"] for r in marks if r["bar_at"] is not None},
        kill_switch=controls["kill_switch"],
        version=controls["book_version"],
        earlier_peaks=tuple(peaks) if config.drawdown.peak_days else (),
    )
    return book.with_peak(config)


async def _equity(conn: Executor) -> tuple[Decimal, Decimal]:
    # High water = the highest running sum of the ledger, one step per outcome (a signal's rows land together,
    # as the book in memory sees them) and per capital move, in id order (ids are monotonic; times may tie).
    row = await conn.fetchrow(
        "SELECT coalesce(sum(amount), 0) AS closed, coalesce(max(running), 0) AS high_water FROM ("
        " SELECT sum(amount) AS amount, sum(sum(amount)) OVER (ORDER BY min(id)) AS running"
        " FROM ledger GROUP BY coalesce(signal, -id)) AS l"
    )
    assert row is not None
    return Decimal(row["closed"]), Decimal(row["high_water"])


def _layer(row: asyncpg.Record, config: Config) -> Layer:
    where = f"position {row['id']} ({row['instrument']} Long_{row['layer']}, {row['status']})"
    if row["instrument"] not in config.instruments:
        raise CorruptFacts(f"{where}: instrument {row['instrument']!r} is not configured")
    if row["lots"] <= 0:
        raise CorruptFacts(f"{where}: lots {row['lots']} must be above 0")
    if row["current_stop"] is None or row["initial_stop"] is None:
        raise CorruptFacts(f"{where}: stop missing")
    return Layer(
        instrument=row["instrument"],
        layer=row["layer"],
        lots=row["lots"],
        entry_price=float(row["entry_price"]),
        initial_stop=float(row["initial_stop"]),
        stop=float(row["current_stop"]),
        highest_close=float(row["highest_close"]),
        point_value=float(row["point_value"]),
    )
