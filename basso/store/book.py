"""Rebuilding the book from the stored facts: open layers, the ledger, marks and the kill switch.

Positions and the ledger are the truth; nothing aggregated is stored, so nothing can disagree. Corrupt
facts stop the caller with a message naming the row rather than trade on them ("corrupt data is worse
than no data").
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from basso.book import Book
from basso.config import Config
from basso.layers import Layer
from basso.store.types import Executor


class CorruptFacts(RuntimeError):
    """A stored fact is impossible (lots ≤ 0, unknown instrument, missing stop): refuse to trade on it."""


async def load_book(conn: Executor, config: Config) -> Book:
    """The book as the stored facts say it is."""
    closed, high_water = await _equity(conn)
    layers = [_layer(row, config) for row in await conn.fetch(
        "SELECT id, instrument, layer, status, lots, entry_price, initial_stop, current_stop, highest_close,"
        " point_value FROM positions WHERE status <> 'closed' ORDER BY instrument, layer")]
    marks = await conn.fetch("SELECT instrument, price, atr FROM instrument_marks")
    controls = await conn.fetchrow("SELECT kill_switch, equity_peak FROM controls WHERE id = 1")
    assert controls is not None, "the controls row is created by the first migration"
    book = Book(closed_equity=closed, high_water=high_water, equity_peak=float(controls["equity_peak"] or 0),
                layers=tuple(layers), atr={r["instrument"]: float(r["atr"]) for r in marks},
                price={r["instrument"]: float(r["price"]) for r in marks}, kill_switch=controls["kill_switch"])
    return book.with_peak(config)


async def _equity(conn: Executor) -> tuple[Decimal, Decimal]:
    # High water = the highest running sum of the ledger in id order (ids are monotonic; times may tie).
    row = await conn.fetchrow(
        "SELECT coalesce(sum(amount), 0) AS closed, coalesce(max(running), 0) AS high_water FROM ("
        " SELECT amount, sum(amount) OVER (ORDER BY id) AS running FROM ledger) AS l")
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
    return Layer(instrument=row["instrument"], layer=row["layer"], lots=row["lots"],
                 entry_price=float(row["entry_price"]), initial_stop=float(row["initial_stop"]),
                 stop=float(row["current_stop"]), highest_close=float(row["highest_close"]),
                 point_value=float(row["point_value"]))
