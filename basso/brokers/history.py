"""Bars from OpenAlgo's `history` endpoint (POST /api/v1/history; restx_api/history.py and
services/history_service.py in marketcalls/openalgo): `symbol`, `exchange`, `interval` and `start_date` /
`end_date` (YYYY-MM-DD, both inclusive) in, `data` out: one object per candle with `timestamp` (Unix seconds,
the candle's open; some brokers' modules send an ISO string), `open`, `high`, `low`, `close`, `volume`, `oi`.

The candles are checked as `basso backtest --bars` reads them (times strictly rising, low ≤ open, close ≤ high),
so a file written from them is one the backtest accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from basso.backtest.bars import Bars, BarsError, bars_csv, parse_bars
from basso.brokers.openalgo import BrokerError, OpenAlgoClient
from basso.timeutil import IST

__all__ = ["INTERVALS", "History", "HistoryError", "fetch_history"]

# The intervals OpenAlgo's HistorySchema accepts (restx_api/data_schemas.py); a broker may offer fewer.
INTERVALS = (
    "1s",
    "5s",
    "10s",
    "15s",
    "30s",
    "45s",
    "1m",
    "2m",
    "3m",
    "5m",
    "10m",
    "15m",
    "20m",
    "30m",
    "1h",
    "2h",
    "3h",
    "4h",
    "D",
    "W",
    "M",
    "Q",
    "Y",
)


class HistoryError(Exception):
    """History that cannot be fetched or used; the message says why in one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """The candles of one request, checked, with their volumes."""

    bars: Bars
    volumes: list[float]

    def csv(self) -> str:
        """The CSV `basso backtest --bars` reads."""
        return bars_csv(self.bars, self.volumes)


async def fetch_history(
    client: OpenAlgoClient, *, instrument: str, symbol: str, exchange: str, interval: str, start: date, end: date
) -> History:
    """The candles of `symbol` on `exchange` from `start` to `end` (inclusive) at `interval`."""
    try:
        reply = await client.call(
            "history",
            symbol=symbol,
            exchange=exchange,
            interval=interval,
            start_date=start.isoformat(),
            end_date=end.isoformat(),
        )
    except BrokerError as exc:
        raise HistoryError(str(exc)) from None
    rows = reply.get("data")
    if not isinstance(rows, list):
        raise HistoryError(f"history: the reply has no list of candles (data is {type(rows).__name__})")
    if not rows:
        raise HistoryError(
            f"history: no candles for {symbol} on {exchange} from {start} to {end} at {interval} "
            "(intraday history at most brokers goes back only 30–90 days)"
        )
    lines = ["timestamp,open,high,low,close,volume"]
    for number, row in enumerate(rows, 1):
        lines.append(
            ",".join(
                [
                    _timestamp(row, number),
                    *(_field(row, key, number) for key in ("open", "high", "low", "close")),
                    _field(row, "volume", number, default="0"),
                ]
            )
        )
    try:
        bars = parse_bars("\n".join(lines) + "\n", instrument, source="history")
    except BarsError as exc:  # line k of the text is candle k − 1 of the reply
        raise HistoryError(f"history: candle {exc.line - 1} of the reply: {exc.problem}") from None
    volumes = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    return History(bars=bars, volumes=volumes)


def _timestamp(row: Any, number: int) -> str:
    if not isinstance(row, dict) or "timestamp" not in row:
        raise HistoryError(f"history: candle {number} of the reply has no timestamp")
    value = row["timestamp"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, IST).isoformat()  # Unix seconds, shown in exchange time
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise HistoryError(
        f"history: candle {number} of the reply: timestamp must be Unix seconds or ISO-8601, got {value!r}"
    )


def _field(row: dict[str, Any], key: str, number: int, default: str | None = None) -> str:
    value = row.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str) or value is None:
        raise HistoryError(f"history: candle {number} of the reply: {key} must be a number, got {value!r}")
    return str(value)
