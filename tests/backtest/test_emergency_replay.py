"""The emergency exit in the backtest (docs/rules.md §6, §11): the sequence of tests/emergency.py replayed over bars,
deciding exactly as the live pipeline does (tests/web/test_emergency.py), fast path or not."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from basso.backtest.bars import Bars, average_true_range
from basso.backtest.sized import replay_basso
from basso.backtest.tradingview import ReplaySignal
from basso.rules.signals import SignalType
from tests.backtest.test_basso_replay import START, at
from tests.emergency import EMERGENCY_REASON, FUTURES, GAPPER, PEEL_REASON, emergency_config


def bars(name: str, closes: list[float], span: float) -> Bars:
    """Hourly bars from START with high/low = close ± span ÷ 2 (ATR(1) = span while closes move ≤ span)."""
    return Bars(
        instrument=name,
        times=[at(i).timestamp() for i in range(len(closes))],
        opens=[closes[max(i - 1, 0)] for i in range(len(closes))],
        highs=[c + span / 2 for c in closes],
        lows=[c - span / 2 for c in closes],
        closes=closes,
    )


def entry(name: str, hour: int) -> ReplaySignal:
    return ReplaySignal(
        time=START + timedelta(hours=hour),
        instrument=name,
        type=SignalType.BASE_ENTRY,
        layer=1,
        price=10_000,
        lots=1,
        lots_left=1,
        trades=(hour,),
        reason="entry",
        entry_time=START + timedelta(hours=hour),
    )


@pytest.mark.parametrize("fast", [True, False])
def test_the_emergency_fires_after_the_peel_off_in_the_backtest(tmp_path: Path, fast: bool) -> None:
    config = emergency_config(tmp_path)
    # ALPHA … DELTA enter at hours 1–4 and FOXTROT at 5, each at 10,000 with the ATR(1) of the bar before
    # (100, and 0.8 for FOXTROT) ⇒ the ATR stops 9,000 and 9,992 of tests/emergency.py. BRAVO … DELTA have no
    # bar after the gap (a bar of theirs would peel them first). ALPHA's bar 6 closes 10,050 (before FOXTROT's,
    # ties go to the instrument given first; ATR stays 100), FOXTROT's bar 6 gaps to 9,890, ALPHA's bar 7
    # closes 10,100 (true range max(100, 10,150 − 10,050) = 100).
    flat = [10_000.0] * 6
    series = {
        "ALPHA": bars("ALPHA", [*flat, 10_050.0, 10_100.0], 100.0),
        **{name: bars(name, flat, 100.0) for name in FUTURES[1:]},
        GAPPER: bars(GAPPER, [*flat, 9_890.0], 0.8),
    }
    signals = [entry(name, hour) for hour, name in enumerate((*FUTURES, GAPPER), start=1)]
    result = replay_basso(
        signals,
        series,
        {n: average_true_range(b.highs, b.lows, b.closes, 1) for n, b in series.items()},
        capital=5_000_000,
        config=config,
        fast=fast,
    )
    assert [(t.instrument, t.lots, t.exit_price, t.reason, t.pnl) for t in result.closed] == [
        (GAPPER, 18, 9_890.0, "stop hit: close 9890 below stop 9992", Decimal("-1980000.00")),
        ("ALPHA", 5, 10_100.0, PEEL_REASON, Decimal("5000.00")),
        ("ALPHA", 10, 10_100.0, EMERGENCY_REASON, Decimal("10000.00")),
    ]
    assert [(t.instrument, t.lots) for t in result.open] == [("BRAVO", 15), ("CHARLIE", 15), ("DELTA", 15)]
    assert any(note.startswith("bar exits (emergency): 1; the first, ALPHA Long_1, 10 lots") for note in result.notes)
