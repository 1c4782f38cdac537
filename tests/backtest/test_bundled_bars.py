"""The generated daily bars bundled with each export: reproducible, labelled, and consistent with its trades."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from basso.backtest.bars import read_bars
from basso.backtest.tradingview import read_trade_list

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BUNDLED = [
    ("GOLD_MINI", "Gold_Mini_Trend_Following.csv", "Gold_Mini_daily_bars.csv"),
    ("BANK_NIFTY", "ITJ_BN_TF_run_1.csv", "Bank_Nifty_daily_bars.csv"),
]


def test_the_bundled_bars_are_exactly_what_the_seeded_script_makes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_bars.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("instrument", "export", "bars_file"), BUNDLED)
def test_the_bars_say_they_are_generated(instrument: str, export: str, bars_file: str) -> None:
    first = (DATA / bars_file).read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"# GENERATED BARS, NOT MARKET DATA: {instrument} daily bars")


@pytest.mark.parametrize(("instrument", "export", "bars_file"), BUNDLED)
def test_every_traded_price_lies_within_its_days_bar(instrument: str, export: str, bars_file: str) -> None:
    bars = read_bars(DATA / bars_file, instrument)
    by_day = {bars.time_of(i).date(): (bars.lows[i], bars.highs[i]) for i in range(len(bars))}
    trades = read_trade_list(DATA / export, instrument)
    checked = 0
    for trade in trades:
        for moment, price in ((trade.entry_time, trade.entry_price), (trade.exit_time, trade.exit_price)):
            low, high = by_day[moment.date()]  # a KeyError here is a trade day without a bar
            assert low <= price <= high, (trade.number, moment, price, low, high)
            checked += 1
    assert checked == 2 * len(trades)
    # The ATR (10 bars) is ready before the first signal: at least 10 bars precede the first trade's day.
    first_trade = min(t.entry_time.date() for t in trades)
    assert sum(1 for day in by_day if day < first_trade) >= 10
    # Daily bars: one a trading day, so a few hundred a year at most, and the file stays small.
    years = (max(by_day) - min(by_day)).days / 365.25
    assert len(bars) < 260 * (years + 1)
    assert (DATA / bars_file).stat().st_size < 250_000
    assert max(by_day) >= max(t.exit_time.date() for t in trades) >= date(2025, 1, 1)
