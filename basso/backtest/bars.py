"""OHLC bars for an instrument, read from CSV, and ATR(n) computed from them.

The CSV has a header naming `timestamp, open, high, low, close` and optionally `volume` (any case, in that
order), after any number of comment lines starting with ``#`` (a generated file says so there), or is
TradingView's "Export chart data" file as it comes: `time, open, high, low, close` followed by whatever the
chart showed (Volume, each indicator's plots), which are ignored. A timestamp is ISO-8601 (``2024-01-02 10:00``,
``2024-01-02T10:00:00+05:30``, ``…Z``; without an offset it is IST wall-clock time) or Unix seconds, as
TradingView's chart export writes them. It is the bar's **open** time: a bar is complete when the next one
starts, so a signal stamped at a bar's open is applied before that bar's close trails the stops.

Bars are held as parallel lists of floats (times as Unix seconds): the replay walks a million of them, and
lists of floats are what a Python loop reads fastest. A malformed file is refused with a `BarsError` naming the
file, the line and the problem.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from basso.backtest.errors import FileLineError
from basso.timeutil import IST

__all__ = ["Bars", "BarsError", "average_true_range", "bars_csv", "parse_bars", "read_bars"]

_COLUMNS = ("timestamp", "open", "high", "low", "close")
_TIME_NAMES = ("timestamp", "time")  # ours, and TradingView's chart export
_NAMES = ("open", "high", "low", "close")


class BarsError(FileLineError):
    """A bars file that cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Bars:
    """One instrument's bars in time order, as parallel lists (times in Unix seconds, bar open)."""

    instrument: str
    times: list[float]
    opens: list[float]
    highs: list[float]
    lows: list[float]
    closes: list[float]

    def __len__(self) -> int:
        return len(self.times)

    def time_of(self, index: int) -> datetime:
        """The open time of bar `index`, in IST."""
        return datetime.fromtimestamp(self.times[index], IST)


def read_bars(path: Path, instrument: str) -> Bars:
    """The bars in the CSV at `path` for `instrument`."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BarsError(str(path), 0, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise BarsError(str(path), 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_bars(text, instrument, source=str(path))


def parse_bars(text: str, instrument: str, *, source: str = "<bars>") -> Bars:
    """The bars in CSV `text`; times must rise strictly and every bar must satisfy low ≤ open, close ≤ high."""
    lines = io.StringIO(text.removeprefix("\ufeff"), newline="")
    comments, start = 0, 0
    for raw in iter(lines.readline, ""):
        if not raw.startswith("#"):
            break
        comments, start = comments + 1, lines.tell()
    lines.seek(start)  # csv reads on from the header; line numbers in messages count the comments too
    reader = csv.reader(lines, strict=True)
    times: list[float] = []
    columns: tuple[list[float], ...] = ([], [], [], [])
    try:
        header = next(reader, None)
        _check_header(header, source, comments + 1)
        width = len(header or ())
        for row in reader:
            if not row:
                continue
            line = comments + reader.line_num
            if len(row) != width:
                raise BarsError(source, line, f"expected {width} columns, got {len(row)}")
            moment = _timestamp(row[0], source, line)
            if times and moment <= times[-1]:
                raise BarsError(source, line, f"timestamp {row[0].strip()} is not after the previous bar's")
            prices = [_price(row[i + 1], _NAMES[i], source, line) for i in range(4)]
            _check_range(prices, source, line)
            times.append(moment)
            for column, price in zip(columns, prices, strict=True):
                column.append(price)
    except csv.Error as exc:
        raise BarsError(source, comments + reader.line_num, f"not valid CSV: {exc}") from None
    if not times:
        raise BarsError(source, comments + 2, "no bars after the header")
    return Bars(
        instrument=instrument, times=times, opens=columns[0], highs=columns[1], lows=columns[2], closes=columns[3]
    )


def _check_header(header: list[str] | None, source: str, line: int) -> None:
    names = tuple(cell.strip().lower() for cell in header or ())
    # Columns after close are volume or a TradingView chart's indicator plots: read past, never used.
    if not names or names[0] not in _TIME_NAMES or names[1:5] != _COLUMNS[1:]:
        raise BarsError(
            source,
            line,
            "header must be timestamp,open,high,low,close[,volume] (or TradingView's "
            f"chart export: time,open,high,low,close,…); got {','.join(names)}",
        )


def _timestamp(text: str, source: str, line: int) -> float:
    text = text.strip()
    try:
        return float(int(text))  # Unix seconds
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BarsError(source, line, f"timestamp must be ISO-8601 or Unix seconds, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)  # exchange wall-clock time
    return moment.timestamp()


def _price(text: str, name: str, source: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BarsError(source, line, f"{name} must be a number, got {text.strip()!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise BarsError(source, line, f"{name} must be a finite number above 0, got {text.strip()!r}")
    return value


def _check_range(prices: list[float], source: str, line: int) -> None:
    open_, high, low, close = prices
    if not low <= min(open_, close) or not max(open_, close) <= high:
        raise BarsError(
            source,
            line,
            f"needs low ≤ open, close ≤ high; got open {open_:g}, high {high:g}, low {low:g}, close {close:g}",
        )


def average_true_range(highs: list[float], lows: list[float], closes: list[float], period: int) -> list[float]:
    """ATR(period) per bar with Wilder's smoothing (TradingView's ta.atr); NaN until `period` bars exist.

    True range = max(high − low, |high − previous close|, |low − previous close|) (the first bar: high − low).
    The first ATR is the mean of the first `period` true ranges; then ATR = (ATR₋₁ × (n − 1) + TR) ÷ n.
    """
    if period < 1:
        raise ValueError(f"ATR period must be at least 1, got {period}")
    count = len(closes)
    result = [math.nan] * count
    if count == 0:
        return result
    # Written out with comparisons rather than max() and abs(): this loop runs once per bar of the backtest.
    previous = closes[0]
    total = 0.0
    atr = math.nan
    keep = (period - 1) / period
    for i in range(count):
        high, low = highs[i], lows[i]
        true_range = high - low
        if i:
            up = high - previous if high > previous else previous - high
            down = low - previous if low > previous else previous - low
            if up > true_range:
                true_range = up
            if down > true_range:
                true_range = down
        previous = closes[i]
        if i >= period:
            atr = atr * keep + true_range / period
            result[i] = atr
        else:
            total += true_range
            if i == period - 1:
                atr = total / period
                result[i] = atr
    return result


def bars_csv(bars: Bars, volumes: list[float] | None = None) -> str:
    """`bars` as the CSV `read_bars` reads: ISO timestamps in IST with their offset, prices as given."""
    lines = ["timestamp,open,high,low,close" + (",volume" if volumes is not None else "")]
    for i in range(len(bars)):
        row = f"{bars.time_of(i).isoformat()},{bars.opens[i]!r},{bars.highs[i]!r},{bars.lows[i]!r},{bars.closes[i]!r}"
        lines.append(row + (f",{volumes[i]:g}" if volumes is not None else ""))
    return "\n".join(lines) + "\n"
