"""TradingView "List of trades" exports: read, check, and turn into the signals they imply.

The format (docs/tradingview-exports.md): UTF-8 with a byte-order mark, 15 columns, each trade two rows, the exit
row first and then the entry row; every pyramid layer is its own trade; an exit whose Signal is ``Open`` is a trade
still open at export time. Entry labels name the layer: ``ENTRY-<n>L`` and ``EOD-ENTRY-<n>L`` are the base (Long_1),
``PYR<k>-<n>L`` is pyramid k (Long_<k+1>).

TradingView splits a trade when part of it exits (FIFO), so one entry order can appear as several trades with
the same entry row (Gold Mini trades 241 and 242: ``ENTRY-30L`` twice, 15 lots each). The signals group those
back into one entry of the summed lots, followed by one partial exit per trade.

A malformed file is refused with a `TradeListError` naming the file, the line and the problem: a replay of a
half-read file would report figures for a strategy nobody ran.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from basso.backtest.errors import FileLineError
from basso.rules.signals import SignalType
from basso.rules.values import value_class
from basso.timeutil import IST

__all__ = [
    "COLUMNS",
    "ExportedTrade",
    "ReplaySignal",
    "TradeListError",
    "merge_signals",
    "parse_trade_list",
    "read_trade_list",
    "signals_from_trades",
]

COLUMNS = (
    "Trade #",
    "Type",
    "Date/Time",
    "Signal",
    "Price INR",
    "Position size (qty)",
    "Position size (value)",
    "Net P&L INR",
    "Net P&L %",
    "Run-up INR",
    "Run-up %",
    "Drawdown INR",
    "Drawdown %",
    "Cumulative P&L INR",
    "Cumulative P&L %",
)
_TRADE, _TYPE, _TIME, _SIGNAL, _PRICE, _QTY = range(6)
_NET_PNL = 7
_ENTRY, _EXIT = "Entry long", "Exit long"
_OPEN = "Open"
_BASE_LABEL = re.compile(r"(?:EOD-)?ENTRY-(\d+)L")
_PYRAMID_LABEL = re.compile(r"PYR(\d+)-(\d+)L")
_TIME_FORMAT = "%Y-%m-%d %H:%M"


class TradeListError(FileLineError):
    """A trade-list export that cannot be replayed; the message names the file, the line and the problem."""


@value_class
class ExportedTrade:
    """One trade of an export: one layer's entry and its exit (or its mark, while still open)."""

    instrument: str
    number: int  # TradingView's Trade #
    layer: int  # 1 = base (Long_1), k + 1 = pyramid k
    label: str  # the entry's Signal, e.g. ENTRY-43L
    lots: int
    entry_time: datetime
    entry_price: float
    exit_time: datetime  # for an open trade: the export time
    exit_price: float  # for an open trade: the price at export time
    exit_label: str
    is_open: bool
    net_pnl: Decimal  # TradingView's Net P&L INR, as printed
    line: int  # line of the exit row, for messages


@value_class
class ReplaySignal:
    """A signal implied by an export: a base entry, a pyramid, or the exit of (part of) one layer."""

    time: datetime
    instrument: str
    type: SignalType
    layer: int  # 1 = Long_1 (base), 2 … = pyramids
    price: float
    lots: int  # the strategy's own lots: entered, or leaving the layer on an exit
    lots_left: int  # the strategy's lots still in the layer after this signal
    trades: tuple[int, ...]  # the Trade # the signal belongs to (several for a split entry)
    reason: str  # the export's Signal label
    entry_time: datetime  # when the layer was entered (the signal's own time for an entry)


def read_trade_list(path: Path, instrument: str) -> list[ExportedTrade]:
    """The trades of the export at `path`, for `instrument` (a canonical instrument name)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TradeListError(str(path), 0, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TradeListError(str(path), 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_trade_list(text, instrument, source=str(path))


def parse_trade_list(text: str, instrument: str, *, source: str = "<trade list>") -> list[ExportedTrade]:
    """The trades of an export's text (a leading byte-order mark is allowed), in Trade # order."""
    rows = _rows(text.removeprefix("\ufeff"), source)
    header = next(rows, None)
    if header is None:
        raise TradeListError(source, 1, "empty file: expected the List of trades header")
    _check_header(header[1], source)
    trades: list[ExportedTrade] = []
    pending: tuple[int, list[str]] | None = None
    for line, row in rows:
        if pending is None:
            pending = (line, row)
            continue
        trades.append(_trade(pending, (line, row), instrument, source, trades[-1] if trades else None))
        pending = None
    if pending is not None:
        raise TradeListError(source, pending[0], f"trade {pending[1][_TRADE]} has no entry row after its exit row")
    if not trades:
        raise TradeListError(source, header[0] + 1, "no trades after the header")
    return trades


def _rows(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            if row:  # a blank line (e.g. a trailing newline added by an editor) carries nothing
                yield reader.line_num, row
    except csv.Error as exc:
        raise TradeListError(source, reader.line_num, f"not valid CSV: {exc}") from None


def _check_header(header: list[str], source: str) -> None:
    if tuple(cell.strip() for cell in header) != COLUMNS:
        raise TradeListError(
            source,
            1,
            f"not a TradingView List of trades header: expected the {len(COLUMNS)} "
            f"columns {', '.join(COLUMNS)}; got {', '.join(header)}",
        )


def _trade(
    exit_row: tuple[int, list[str]],
    entry_row: tuple[int, list[str]],
    instrument: str,
    source: str,
    previous: ExportedTrade | None,
) -> ExportedTrade:
    exit_line, exits = exit_row
    entry_line, entries = entry_row
    for line, row in (exit_row, entry_row):
        if len(row) != len(COLUMNS):
            raise TradeListError(source, line, f"expected {len(COLUMNS)} columns, got {len(row)}")
    number = _whole(exits[_TRADE], "Trade #", source, exit_line)
    if exits[_TYPE] != _EXIT:
        raise TradeListError(source, exit_line, _type_problem(exits[_TYPE], _EXIT))
    if entries[_TYPE] != _ENTRY:
        raise TradeListError(source, entry_line, _type_problem(entries[_TYPE], _ENTRY))
    if _whole(entries[_TRADE], "Trade #", source, entry_line) != number:
        raise TradeListError(
            source,
            entry_line,
            f"entry row of trade {entries[_TRADE]} follows the exit row of "
            f"trade {number}: each trade is its exit row then its entry row",
        )
    if previous is not None and number <= previous.number:
        raise TradeListError(source, exit_line, f"trade {number} after trade {previous.number}: Trade # must rise")
    lots = _whole(entries[_QTY], "Position size (qty)", source, entry_line)
    if _whole(exits[_QTY], "Position size (qty)", source, exit_line) != lots:
        raise TradeListError(source, exit_line, f"exit of trade {number} is {exits[_QTY]} lots but its entry is {lots}")
    entry_time = _time(entries[_TIME], source, entry_line)
    exit_time = _time(exits[_TIME], source, exit_line)
    if exit_time < entry_time:
        raise TradeListError(
            source, exit_line, f"trade {number} exits at {exits[_TIME]}, before its entry at {entries[_TIME]}"
        )
    return ExportedTrade(
        instrument=instrument,
        number=number,
        layer=_layer(entries[_SIGNAL], source, entry_line),
        label=entries[_SIGNAL],
        lots=lots,
        entry_time=entry_time,
        entry_price=_price(entries[_PRICE], source, entry_line),
        exit_time=exit_time,
        exit_price=_price(exits[_PRICE], source, exit_line),
        exit_label=exits[_SIGNAL],
        is_open=exits[_SIGNAL].strip() == _OPEN,
        net_pnl=_amount(exits[_NET_PNL], "Net P&L INR", source, exit_line),
        line=exit_line,
    )


def _type_problem(found: str, expected: str) -> str:
    if "short" in found.lower():
        return f"Type {found!r}: short trades are not supported (Basso trades long only)"
    return f"Type {found!r} where {expected!r} was expected (each trade is its exit row, then its entry row)"


def _whole(text: str, column: str, source: str, line: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise TradeListError(source, line, f"{column} must be a whole number, got {text!r}") from None
    if value <= 0:
        raise TradeListError(source, line, f"{column} must be greater than 0, got {value}")
    return value


def _price(text: str, source: str, line: int) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise TradeListError(source, line, f"Price INR must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise TradeListError(source, line, f"Price INR must be a finite number above 0, got {text!r}")
    return value


def _amount(text: str, column: str, source: str, line: int) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise TradeListError(source, line, f"{column} must be a number, got {text!r}") from None
    if not value.is_finite():
        raise TradeListError(source, line, f"{column} must be a finite number, got {text!r}")
    return value


def _time(text: str, source: str, line: int) -> datetime:
    try:
        # The export prints exchange wall-clock time without an offset: IST.
        return datetime.strptime(text.strip(), _TIME_FORMAT).replace(tzinfo=IST)
    except ValueError:
        raise TradeListError(source, line, f"Date/Time must be YYYY-MM-DD HH:MM, got {text!r}") from None


def _layer(label: str, source: str, line: int) -> int:
    label = label.strip()
    if _BASE_LABEL.fullmatch(label):
        return 1
    pyramid = _PYRAMID_LABEL.fullmatch(label)
    if pyramid and int(pyramid[1]) >= 1:
        return int(pyramid[1]) + 1
    raise TradeListError(
        source,
        line,
        f"entry Signal {label!r} is not ENTRY-<n>L, EOD-ENTRY-<n>L or PYR<k>-<n>L "
        "(k from 1): the layer of the trade is unknown",
    )


# --- signals ------------------------------------------------------------------------------------------------


def signals_from_trades(trades: Sequence[ExportedTrade]) -> list[ReplaySignal]:
    """The entries and exits `trades` imply, in time order; an open trade gives its entry only."""
    signals: list[ReplaySignal] = []
    for group in _entry_groups(trades):
        first = group[0]
        total = sum(trade.lots for trade in group)
        signals.append(
            ReplaySignal(
                time=first.entry_time,
                instrument=first.instrument,
                type=SignalType.BASE_ENTRY if first.layer == 1 else SignalType.PYRAMID,
                layer=first.layer,
                price=first.entry_price,
                lots=total,
                lots_left=total,
                trades=tuple(t.number for t in group),
                reason=first.label,
                entry_time=first.entry_time,
            )
        )
        left = total
        for trade in sorted(group, key=lambda t: (t.is_open, t.exit_time, t.number)):
            if trade.is_open:
                continue
            left -= trade.lots
            signals.append(
                ReplaySignal(
                    time=trade.exit_time,
                    instrument=trade.instrument,
                    type=SignalType.EXIT,
                    layer=trade.layer,
                    price=trade.exit_price,
                    lots=trade.lots,
                    lots_left=left,
                    trades=(trade.number,),
                    reason=trade.exit_label,
                    entry_time=trade.entry_time,
                )
            )
    return merge_signals([signals])


def _entry_groups(trades: Sequence[ExportedTrade]) -> list[list[ExportedTrade]]:
    # Trades split by a partial exit share their entry row exactly: same time, layer, label and price.
    groups: dict[tuple[str, datetime, int, str, float], list[ExportedTrade]] = {}
    for trade in trades:
        key = (trade.instrument, trade.entry_time, trade.layer, trade.label, trade.entry_price)
        groups.setdefault(key, []).append(trade)
    return list(groups.values())


def merge_signals(streams: Iterable[Iterable[ReplaySignal]]) -> list[ReplaySignal]:
    """All `streams` merged into one in time order.

    At the same minute exits come before entries, so a layer closed and a new one opened on the same bar never
    count as held together; a zero-length trade's own exit still follows its entry. Ties keep the order of
    `streams` (instruments as given), then the trade number.
    """
    keyed = [(_order(signal), index, signal) for index, stream in enumerate(streams) for signal in stream]
    keyed.sort(key=lambda item: (item[0][0], item[0][1], item[1], item[0][2]))
    return [signal for _, _, signal in keyed]


def _order(signal: ReplaySignal) -> tuple[datetime, int, int]:
    if signal.type is not SignalType.EXIT:
        return signal.time, 1, signal.trades[0]
    return signal.time, 0 if signal.entry_time < signal.time else 2, signal.trades[0]
