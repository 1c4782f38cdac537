"""Rebuilding the book from the stored facts: open layers, the ledger, marks and the kill switch.

Positions and the ledger are the truth; nothing aggregated is stored, so nothing can disagree. Corrupt
facts stop the caller with a message naming the row rather than trade on them ("corrupt data is worse
than no data").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from basso.config import Config
from basso.rules.book import Book
from basso.rules.layers import Layer
from basso.store.types import Executor


class CorruptFacts(RuntimeError):
    """A stored fact is impossible (lots ≤ 0, unknown instrument, missing stop): refuse to trade on it."""


# One statement, so one snapshot (a commit landing meanwhile is either wholly in it or wholly out of it) and one
# round trip: the SignalReceiver reads the book again after every fill the order desk records. The high water is
# the highest running sum of the ledger, one step per outcome (a signal's rows land together, as the book in memory
# sees them) and per capital move, in id order (ids are monotonic; times may tie).
_LAYER_COLUMNS = (
    "id",
    "instrument",
    "layer",
    "status",
    "lots",
    "entry_price",
    "initial_stop",
    "current_stop",
    "highest_close",
    "point_value",
)
_BOOK = f"""
SELECT c.kill_switch, c.book_version, e.closed, e.high_water,
       (SELECT array_agg(ROW(day, peak) ORDER BY day) FROM equity_peaks) AS peaks,
       (SELECT array_agg(ROW({", ".join(_LAYER_COLUMNS)}) ORDER BY instrument, layer) FROM positions
         WHERE status IN ('opening', 'partial', 'open')) AS layers,
       (SELECT array_agg(ROW(instrument, price, atr, at, bar_at)) FROM instrument_marks) AS marks
  FROM controls c,
       (SELECT coalesce(sum(amount), 0) AS closed, coalesce(max(running), 0) AS high_water FROM (
          SELECT sum(amount) AS amount, sum(sum(amount)) OVER (ORDER BY min(id)) AS running
            FROM ledger GROUP BY coalesce(signal, -id)) AS l) AS e
 WHERE c.id = 1
"""


async def load_book(db: Executor, config: Config) -> Book:
    """The book as the stored facts say it is, read from one snapshot in one round trip."""
    row = await db.fetchrow(_BOOK)
    assert row is not None, "the controls row is created by the first migration"
    peaks = [(day, float(peak)) for day, peak in row["peaks"] or ()]
    layers = [_layer(dict(zip(_LAYER_COLUMNS, values, strict=True)), config) for values in row["layers"] or ()]
    marks = row["marks"] or ()
    # The peak's days are kept only for a window; all time, the highest day is the peak. The book learns
    # which day it is from the next signal (`Book.on_day`), or from whoever shows it.
    book = Book(
        closed_equity=Decimal(row["closed"]),
        high_water=Decimal(row["high_water"]),
        equity_peak=max((p for _, p in peaks), default=0.0),
        layers=tuple(layers),
        atr={instrument: float(atr) for instrument, _, atr, _, _ in marks},
        price={instrument: float(price) for instrument, price, _, _, _ in marks},
        marked_at={instrument: at for instrument, _, _, at, _ in marks},
        bar_at={instrument: bar_at for instrument, _, _, _, bar_at in marks if bar_at is not None},
        kill_switch=row["kill_switch"],
        version=row["book_version"],
        earlier_peaks=tuple(peaks) if config.drawdown.peak_days else (),
    )
    return book.with_peak(config)


def _layer(row: Mapping[str, Any], config: Config) -> Layer:
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
