"""Generate the daily OHLC bars bundled with each TradingView export in tests/data/ (seeded: reruns are identical).

The exports carry no bars, and `basso backtest --sizing basso` needs them (the ATR, the stops, the marks). These
bars are **generated, not market data**: a seeded log-price random walk pinned to every price the export
traded at (a Brownian bridge between consecutive trade days), so each entry and exit lies inside its day's
range and the walk between them moves with a plausible daily volatility. Use them to try the commands; size
real decisions on real bars.

    python scripts/generate_bars.py            # rewrites tests/data/*_daily_bars.csv
    python scripts/generate_bars.py --check    # exit 1 if a bundled file differs from what the script makes

One bar per trading day (the instrument's calendar, plus any day the export traded on), stamped at the
market's open in IST, as `basso/backtest/bars.py` reads them (a bar's time is its open).

`basso/research/synthetic.py` pins a walk to a trade list too, but makes something else: hourly bars on every
weekday, in memory, from numpy's generator, a close at each trade's price (the research tests and
bench/research.py). These daily files must stay byte for byte what the test of the bundled bars checks, so
neither is made from the other.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path

from basso.backtest.tradingview import read_trade_list
from basso.config import load_config
from basso.rules.calendars import calendar_for

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
# Bars before the first trade, so the ATR (10 bars by default) is there when the first signal comes.
LEAD_IN = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One export and the bars generated for it."""

    instrument: str
    export: str
    bars: str
    seed: int
    daily_volatility: float  # σ of the daily log return between trade days


SOURCES = (
    Source(
        instrument="GOLD_MINI",
        export="Gold_Mini_Trend_Following.csv",
        bars="Gold_Mini_daily_bars.csv",
        seed=20150320,
        daily_volatility=0.009,
    ),
    Source(
        instrument="BANK_NIFTY",
        export="ITJ_BN_TF_run_1.csv",
        bars="Bank_Nifty_daily_bars.csv",
        seed=20090324,
        daily_volatility=0.013,
    ),
)


def trade_prices(source: Source) -> dict[date, list[float]]:
    """Every price the export traded at (entries, exits, the open trades' marks), by IST day."""
    prices: dict[date, list[float]] = {}
    for trade in read_trade_list(DATA / source.export, source.instrument):
        for moment, price in ((trade.entry_time, trade.entry_price), (trade.exit_time, trade.exit_price)):
            prices.setdefault(moment.date(), []).append(price)
    return prices


def trading_days(source: Source, traded: dict[date, list[float]]) -> list[date]:
    """The instrument's trading days from `LEAD_IN` trading days before the first trade to the last trade, and
    every day the export traded on."""
    calendar = calendar_for(load_config(None), load_config(None).instrument(source.instrument))
    first, last = min(traded), max(traded)
    for _ in range(LEAD_IN):
        first = calendar.previous_trading_day(first)
    days = [first + timedelta(n) for n in range((last - first).days + 1)]
    return [d for d in days if d in traded or calendar.is_trading_day(d)]


def closes(days: list[date], traded: dict[date, list[float]], rng: random.Random, sigma: float) -> list[float]:
    """A log-price walk through each trade day's last price (a Brownian bridge between anchors)."""
    anchors = [i for i, d in enumerate(days) if d in traded]
    logs = [0.0] * len(days)
    for a, b in itertools.pairwise(anchors):
        start, end = math.log(traded[days[a]][-1]), math.log(traded[days[b]][-1])
        walk = [0.0]
        for _ in range(b - a):
            walk.append(walk[-1] + rng.gauss(0.0, sigma))
        for step in range(b - a + 1):
            share = step / (b - a)
            logs[a + step] = start + (end - start) * share + walk[step] - share * walk[-1]
    logs[anchors[-1]] = math.log(traded[days[anchors[-1]]][-1])
    for i in range(anchors[0] - 1, -1, -1):  # the lead-in: walked backwards from the first trade day
        logs[i] = logs[i + 1] - rng.gauss(0.0, sigma)
    return [math.exp(x) for x in logs]


def bars(source: Source) -> list[tuple[datetime, float, float, float, float]]:
    """(open time, open, high, low, close) per day; every traded price lies within its day's low and high."""
    instrument = load_config(None).instrument(source.instrument)
    opening = instrument.market_open
    traded = trade_prices(source)
    days = trading_days(source, traded)
    rng = random.Random(source.seed)
    sigma = source.daily_volatility
    close = closes(days, traded, rng, sigma)
    rows = []
    previous = close[0]
    for day, end in zip(days, close, strict=True):
        open_ = previous * math.exp(rng.gauss(0.0, sigma / 3))
        inside = [open_, end, *traded.get(day, ())]
        high = max(inside) * math.exp(abs(rng.gauss(0.0, sigma / 2)))
        low = min(inside) * math.exp(-abs(rng.gauss(0.0, sigma / 2)))
        rows.append((datetime.combine(day, opening), open_, high, low, end))
        previous = end
    return rows


def to_tick(price: float, tick: float, rounding: str) -> str:
    """`price` on the instrument's tick grid, as text (high rounds up, low down, so the range still holds)."""
    step = Decimal(str(tick)).normalize()
    return str((Decimal(repr(price)) / step).quantize(Decimal(1), rounding=rounding) * step)


def render(source: Source) -> str:
    tick = load_config(None).instrument(source.instrument).tick
    lines = [
        f"# GENERATED BARS, NOT MARKET DATA: {source.instrument} daily bars made by scripts/generate_bars.py "
        f"(seed {source.seed})",
        f"# from the prices traded in tests/data/{source.export}: a seeded random walk pinned to every trade,",
        "# so each entry and exit lies inside its day's range. For trying `basso backtest --sizing basso` only.",
        "timestamp,open,high,low,close",
    ]
    for moment, open_, high, low, close in bars(source):
        lines.append(
            ",".join(
                [
                    moment.strftime("%Y-%m-%d %H:%M"),
                    to_tick(open_, tick, ROUND_HALF_EVEN),
                    to_tick(high, tick, ROUND_CEILING),
                    to_tick(low, tick, ROUND_FLOOR),
                    to_tick(close, tick, ROUND_HALF_EVEN),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the bundled files, write nothing")
    args = parser.parse_args()
    stale = []
    for source in SOURCES:
        path, text = DATA / source.bars, render(source)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path}: {text.count(chr(10)) - 4} bars")
    if stale:
        print(f"differs from what scripts/generate_bars.py makes: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
