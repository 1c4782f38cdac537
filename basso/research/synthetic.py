"""Generated bars that pass through a trade list's own prices: Basso sizing needs bars, the bundled exports
come without them, and random bars at another price would make every ATR stop meaningless.

Between consecutive known prices (every entry and exit of the export, in time order) the log price follows a
seeded Brownian bridge: a random walk pinned at both ends, so the bar in which a trade was entered or left
closes at that trade's price and the bars between wander as a market would. Bars are hourly during the
instrument's session on weekdays (holidays are not skipped: data for the benchmark and tests, not history).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from basso.backtest.bars import Bars
from basso.backtest.tradingview import ExportedTrade
from basso.config import Instrument
from basso.timeutil import IST

__all__ = ["bars_through_trades"]

_HOUR = 3600.0


def bars_through_trades(
    trades: Sequence[ExportedTrade], instrument: Instrument, *, seed: int, volatility: float = 0.004
) -> Bars:
    """Hourly bars over the span of `trades` whose closes pass through every entry and exit price; σ of a
    bar's log return is `volatility` (plus the drift the known prices impose)."""
    anchors = sorted(
        {
            **{t.entry_time.timestamp(): t.entry_price for t in trades},
            **{t.exit_time.timestamp(): t.exit_price for t in trades},
        }.items()
    )
    first = datetime.fromtimestamp(anchors[0][0], IST)
    last = datetime.fromtimestamp(anchors[-1][0], IST)
    times = np.array(_session_hours(first, last, instrument), dtype=np.float64)
    # The bar holding each known price: the last bar opening at or before it.
    anchor_times = np.array([a for a, _ in anchors])
    anchor_bars = np.clip(np.searchsorted(times, anchor_times, side="right") - 1, 0, len(times) - 1)
    known = np.full(len(times), np.nan)
    known[anchor_bars] = np.log([p for _, p in anchors])
    pinned = np.flatnonzero(~np.isnan(known))
    rng = np.random.default_rng(seed)
    walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, volatility, len(times) - 1))))
    index = np.arange(len(times))
    segment = (
        np.clip(np.searchsorted(pinned, index, side="right") - 1, 0, len(pinned) - 2)
        if len(pinned) > 1
        else np.zeros(len(times), dtype=np.int64)
    )
    start, end = pinned[segment], pinned[np.minimum(segment + 1, len(pinned) - 1)]
    span = np.maximum(end - start, 1)
    share = np.clip((index - start) / span, 0.0, 1.0)
    bridge = walk - walk[start] - share * (walk[end] - walk[start])
    log_close = known[start] + share * (known[end] - known[start]) + bridge
    closes = np.exp(log_close)
    opens = np.concatenate(([closes[0]], closes[:-1]))
    wick = opens * volatility
    highs = np.maximum(opens, closes) + wick * rng.random(len(times))
    lows = np.minimum(opens, closes) - wick * rng.random(len(times))
    return Bars(
        instrument=instrument.name,
        times=times.tolist(),
        opens=_prices(opens),
        highs=_prices(highs),
        lows=_prices(lows),
        closes=_prices(closes),
    )


def _prices(values: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in values]


def _session_hours(first: datetime, last: datetime, instrument: Instrument) -> list[float]:
    """Open times of hourly bars from the session open, weekdays, from `first`'s day to `last`'s."""
    hours: list[float] = []
    day = first.date()
    while day <= last.date():
        if day.weekday() < 5:
            moment = datetime.combine(day, instrument.market_open, IST)
            close = datetime.combine(day, instrument.market_close, IST)
            while moment < close:
                hours.append(moment.timestamp())
                moment += timedelta(hours=1)
        day += timedelta(days=1)
    return hours
