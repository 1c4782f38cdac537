"""Seeded synthetic bars and a breakout strategy over them: data for tests, examples and the benchmark.

`random_walk_bars` makes hourly OHLC bars from a seeded geometric random walk, so a run is reproducible to the
last paisa. `breakout_signals` is the strategy side of a backtest in its barest form — enter when the close
breaks above the highest close of the previous `lookback` bars, leave when it closes below an ATR trailing
stop — written out as the signals a TradingView export would imply (entry and exit stamped at the next bar's
open, priced at the signal bar's close). It doubles as the "bare Python loop" of the benchmark.
"""

from __future__ import annotations

import math
import random
from collections import deque
from datetime import datetime

from basso.backtest.bars import Bars
from basso.backtest.tradingview import ReplaySignal
from basso.rules.signals import SignalType
from basso.timeutil import IST

__all__ = ["breakout_signals", "random_walk_bars"]

_HOUR = 3600.0


def random_walk_bars(
    instrument: str,
    count: int,
    *,
    seed: int,
    start: datetime,
    price: float,
    volatility: float = 0.004,
    drift: float = 0.0,
    step_s: float = _HOUR,
    regime_switch: float = 0.0,
    wild: float = 3.0,
    reversion: float = 0.0,
    trend_switch: float = 0.0,
) -> Bars:
    """`count` bars every `step_s` seconds from `start`: log returns ~ N(drift, σ), wicks beyond both the open
    and the close by a random share of σ. σ is `volatility`, or `wild` times it in a wild regime, which starts
    or ends on each bar with probability `regime_switch` (volatility that jumps is what makes peel-offs).
    `reversion` pulls the log price back towards log(`price`) by that share a bar, so a long series trends and
    turns without drifting off to prices no instrument trades at (σ ÷ √(2 × reversion) is its spread).
    `trend_switch` is the chance a bar that the drift changes sign: trends that last 1 ÷ trend_switch bars."""
    rng = random.Random(seed)
    gauss, uniform = rng.gauss, rng.random
    first = start.timestamp()
    times = [first + i * step_s for i in range(count)]
    opens: list[float] = []
    highs: list[float] = []
    lows: list[float] = []
    closes: list[float] = []
    close = price
    home = math.log(price)
    sigma = volatility
    for _ in range(count):
        if trend_switch and uniform() < trend_switch:
            drift = -drift
        if regime_switch and uniform() < regime_switch:
            sigma = volatility * wild if sigma == volatility else volatility
        open_ = close
        pull = reversion * (home - math.log(open_)) if reversion else 0.0
        close = open_ * math.exp(gauss(drift, sigma) + pull)
        wick = open_ * sigma
        opens.append(round(open_, 2))
        closes.append(round(close, 2))
        highs.append(round(max(open_, close) + wick * uniform(), 2))
        lows.append(round(min(open_, close) - wick * uniform(), 2))
    return Bars(instrument=instrument, times=times, opens=opens, highs=highs, lows=lows, closes=closes)


def breakout_signals(
    bars: Bars, atrs: list[float], *, lookback: int, stop_multiple: float, lots: int = 1, pyramids: int = 0
) -> list[ReplaySignal]:
    """The strategy's signals: in on a `lookback`-bar closing breakout, a pyramid on each further breakout while
    in (up to `pyramids`), all out on a close below highest close − `stop_multiple` × ATR. Each is stamped at the
    next bar's open and priced at this close."""
    closes, times = bars.closes, bars.times
    window: deque[int] = deque()  # bar indices, closes falling: the front is the window's highest close
    signals: list[ReplaySignal] = []
    layers: list[float] = []  # entry time of each layer held
    highest = stop = 0.0
    for i in range(len(closes) - 1):  # the last bar has no next open to act at
        close, atr = closes[i], atrs[i]
        breakout = bool(window) and close > closes[window[0]] and atr == atr  # atr == atr: not NaN
        if layers:
            highest = close if close > highest else highest
            trailing = highest - stop_multiple * atr
            stop = trailing if trailing > stop else stop
            if close < stop:
                signals += [
                    _signal(bars, SignalType.EXIT, times[i + 1], close, lots, entered, layer)
                    for layer, entered in enumerate(layers, 1)
                ]
                layers = []
            elif breakout and len(layers) <= pyramids:
                layers.append(times[i + 1])
                signals.append(_signal(bars, SignalType.PYRAMID, times[i + 1], close, lots, times[i + 1], len(layers)))
        elif breakout:
            highest = close
            stop = close - stop_multiple * atr
            layers = [times[i + 1]]
            signals.append(_signal(bars, SignalType.BASE_ENTRY, times[i + 1], close, lots, times[i + 1], 1))
        while window and closes[window[-1]] <= close:
            window.pop()
        window.append(i)
        if window[0] <= i - lookback:
            window.popleft()
    return signals


def _signal(
    bars: Bars, kind: SignalType, stamp: float, price: float, lots: int, entered: float, layer: int
) -> ReplaySignal:
    exit_ = kind is SignalType.EXIT
    time = datetime.fromtimestamp(stamp, IST)
    return ReplaySignal(
        time=time,
        instrument=bars.instrument,
        type=kind,
        layer=layer,
        price=price,
        lots=lots,
        lots_left=0 if exit_ else lots,
        trades=(0,),
        reason="EXIT - trailing stop" if exit_ else "BREAKOUT",
        entry_time=datetime.fromtimestamp(entered, IST) if exit_ else time,
    )
