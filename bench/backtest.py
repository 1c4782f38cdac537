"""Benchmark of backtest mode: the fixed-lot replay of the bundled exports, and Basso sizing over a million bars.

    python bench/backtest.py [--bars 1000000] [--repeat 5] [--skip-backtrader]

Prints the figures for people, then one JSON line:
{"fixed_replay_s": …, "basso_bars_per_s": …, "backtrader_bars_per_s": …, "plain_loop_bars_per_s": …, …}.

* fixed_replay_s: read both bundled TradingView exports, replay them merged at their own lots and compute the
  summary (the figures `basso backtest --json` prints); the best of --repeat runs.
* The bar benchmarks share one series: hourly Gold Mini bars from a seeded random walk with trends (drift that
  changes sign now and then, pulled back towards its start so prices stay in a traded range). The rule is the
  same everywhere: ATR(10) (Wilder), enter on a close above the highest of the previous 200 closes, leave on a
  close below highest close − 2 × ATR (Gold Mini's trailing multiple).
* basso_bars_per_s: ATR, the strategy's signals and `replay_basso` (Basso sizing of every entry, portfolio
  checks, stops trailing on every bar a layer is open, peel-off and emergency checks, drawdown rules).
* plain_loop_bars_per_s: the same rule as bare Python loops (ATR, then breakout and trailing stop), no sizing.
* backtrader_bars_per_s: the same rule as a backtrader strategy, default Cerebro settings, bars fed from
  memory by a minimal DataBase subclass (no file parsing), one contract a trade.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from basso.backtest.bars import Bars, average_true_range
from basso.backtest.replay import replay_fixed
from basso.backtest.report import summary
from basso.backtest.sized import replay_basso
from basso.backtest.stats import portfolio_stats
from basso.backtest.synthetic import breakout_signals, random_walk_bars
from basso.backtest.tradingview import read_trade_list
from basso.config import Config, load_config
from basso.timeutil import IST

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
LOOKBACK = 200
ATR_PERIOD = 10
SERIES: dict[str, Any] = {
    "seed": 11,
    "price": 30000.0,
    "volatility": 0.004,
    "reversion": 1e-4,
    "drift": 0.0003,
    "trend_switch": 0.001,
}


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The fastest of `repeat` timed runs of `work`, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def fixed_replay(config: Config) -> dict[str, Any]:
    """Both bundled exports merged at their own lots, with docs/tradingview-exports.md's multipliers and commissions."""
    trades = {
        "GOLD_MINI": read_trade_list(DATA / "Gold_Mini_Trend_Following.csv", "GOLD_MINI"),
        "BANK_NIFTY": read_trade_list(DATA / "ITJ_BN_TF_run_1.csv", "BANK_NIFTY"),
    }
    result = replay_fixed(
        trades,
        capital=5_000_000,
        commission=0.0005,
        commissions={"BANK_NIFTY": 0.001},
        multipliers={"GOLD_MINI": 10, "BANK_NIFTY": 35},
        config=config,
    )
    return summary(result)


def basso_run(bars: Bars, config: Config) -> Any:
    """ATR, the breakout strategy's signals, and the Basso-sized replay."""
    atrs = average_true_range(bars.highs, bars.lows, bars.closes, ATR_PERIOD)
    multiple = config.instruments["GOLD_MINI"].trailing_stop_atr
    signals = breakout_signals(bars, atrs, lookback=LOOKBACK, stop_multiple=multiple)
    return replay_basso(signals, {"GOLD_MINI": bars}, {"GOLD_MINI": atrs}, capital=5_000_000, config=config)


def plain_loop(bars: Bars, multiple: float) -> int:
    """The same rule as bare loops: ATR, then breakout entries and trailing-stop exits; the trades it made."""
    atrs = average_true_range(bars.highs, bars.lows, bars.closes, ATR_PERIOD)
    return len(breakout_signals(bars, atrs, lookback=LOOKBACK, stop_multiple=multiple)) // 2


def backtrader_run(bars: Bars, multiple: float) -> int:
    """The same rule in backtrader (default settings); the trades it made."""
    import backtrader as bt  # the bench extra: imported only when measured

    numbers = [bt.date2num(datetime.fromtimestamp(t, IST).replace(tzinfo=None)) for t in bars.times]

    class MemoryFeed(bt.feed.DataBase):  # type: ignore[misc]
        """Bars from lists already in memory: backtrader's cheapest way in."""

        def start(self) -> None:
            super().start()
            self.index = 0

        def _load(self) -> bool:
            i = self.index
            if i >= len(numbers):
                return False
            self.lines.datetime[0] = numbers[i]
            self.lines.open[0] = bars.opens[i]
            self.lines.high[0] = bars.highs[i]
            self.lines.low[0] = bars.lows[i]
            self.lines.close[0] = bars.closes[i]
            self.lines.volume[0] = 0.0
            self.lines.openinterest[0] = 0.0
            self.index = i + 1
            return True

    class Breakout(bt.Strategy):  # type: ignore[misc]
        """Closing breakout in, ATR trailing stop out."""

        def __init__(self) -> None:
            self.atr = bt.indicators.AverageTrueRange(self.data, period=ATR_PERIOD)
            self.highest = bt.indicators.Highest(self.data.close(-1), period=LOOKBACK)
            self.holding = False
            self.top = self.trail_stop = 0.0
            self.trades = 0

        def next(self) -> None:
            close = self.data.close[0]
            if self.holding:
                self.top = max(self.top, close)
                self.trail_stop = max(self.trail_stop, self.top - multiple * self.atr[0])
                if close < self.trail_stop:
                    self.close()
                    self.holding = False
            elif close > self.highest[0]:
                self.buy(size=1)
                self.holding = True
                self.top, self.trail_stop = close, close - multiple * self.atr[0]
                self.trades += 1

    cerebro = bt.Cerebro()
    cerebro.adddata(MemoryFeed())
    cerebro.addstrategy(Breakout)
    strategy = cerebro.run()[0]
    trades: int = strategy.trades
    return trades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="synthetic hourly bars (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of the fast benchmarks; the best counts")
    parser.add_argument("--skip-backtrader", action="store_true", help="leave out the (slow) backtrader run")
    args = parser.parse_args()
    config = load_config()
    multiple = config.instruments["GOLD_MINI"].trailing_stop_atr

    fixed_s = best_of(args.repeat, lambda: fixed_replay(config))
    bars = random_walk_bars("GOLD_MINI", args.bars, start=datetime(2000, 1, 3, 9, 0, tzinfo=IST), **SERIES)
    basso_s = best_of(args.repeat, lambda: basso_run(bars, config))
    stats = portfolio_stats(basso_run(bars, config))
    plain_s = best_of(args.repeat, lambda: plain_loop(bars, multiple))
    strategy_trades = plain_loop(bars, multiple)
    figures: dict[str, Any] = {
        "fixed_replay_s": round(fixed_s, 4),
        "basso_bars_per_s": round(args.bars / basso_s),
        "backtrader_bars_per_s": None,
        "plain_loop_bars_per_s": round(args.bars / plain_s),
        "bars": args.bars,
        "strategy_trades": strategy_trades,
        "basso_trades_closed": stats.trades_closed,
        "basso_time_in_market_pct": round(stats.time_in_market_pct, 2),
    }
    if not args.skip_backtrader:
        started = time.perf_counter()
        backtrader_trades = backtrader_run(bars, multiple)
        figures["backtrader_bars_per_s"] = round(args.bars / (time.perf_counter() - started))
        figures["backtrader_trades"] = backtrader_trades
    print(f"fixed replay of both exports: {fixed_s * 1000:.1f} ms (target ≤ 500 ms)")
    print(
        f"Basso sizing over {args.bars:,} bars: {figures['basso_bars_per_s']:,} bars/s (target ≥ 500,000); "
        f"{stats.trades_closed:,} layers closed, in the market {stats.time_in_market_pct:.1f} % of the time"
    )
    print(f"bare Python loop of the rule: {figures['plain_loop_bars_per_s']:,} bars/s ({strategy_trades:,} trades)")
    if figures["backtrader_bars_per_s"] is not None:
        print(f"backtrader: {figures['backtrader_bars_per_s']:,} bars/s ({figures['backtrader_trades']:,} trades)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
