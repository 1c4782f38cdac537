"""Basso-sized replays on synthetic bars: hand-computed decisions, and the fast path deciding like the live code.

Hand-made bars have high = close + 50 and low = close − 50 and closes that move at most 50 a bar, so with
ATR(1) every bar's ATR is exactly 100 (true range = max(100, |high − previous close|, |low − previous close|)).
Gold Mini (docs/rules.md §1): point value 10, margin ₹1,05,000, initial risk 0.5 %, initial vol 0.2 %, ongoing risk
1.0 %, ongoing vol 0.3 %, stops 1.0 / 2.0 × ATR. Commission is 0 so the P&L is the bare move.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from basso.backtest.bars import Bars, average_true_range
from basso.backtest.replay import ReplayResult
from basso.backtest.sized import replay_basso
from basso.backtest.stats import portfolio_stats
from basso.backtest.synthetic import breakout_signals, random_walk_bars
from basso.backtest.tradingview import ReplaySignal
from basso.config import Config
from basso.enums import SignalOutcome
from basso.rules.decisions import Decision
from basso.rules.signals import MarketData, Signal, SignalType, TradingSignal
from basso.timeutil import IST

START = datetime(2024, 1, 2, 9, 0, tzinfo=IST)


def at(i: int) -> datetime:
    return START + timedelta(hours=i)


def hand_bars(instrument: str, closes: list[float], wide: dict[int, float] | None = None) -> Bars:
    """Hourly bars from START; bar i's range is 100 unless `wide` gives another."""
    spans = [(wide or {}).get(i, 100.0) / 2 for i in range(len(closes))]
    return Bars(
        instrument=instrument,
        times=[at(i).timestamp() for i in range(len(closes))],
        opens=[closes[max(i - 1, 0)] for i in range(len(closes))],
        highs=[c + h for c, h in zip(closes, spans, strict=True)],
        lows=[c - h for c, h in zip(closes, spans, strict=True)],
        closes=closes,
    )


def signal(kind: SignalType, instrument: str, bar: int, price: float, layer: int = 1) -> ReplaySignal:
    """A strategy signal stamped at bar `bar`'s open (so it comes after bar − 1's close)."""
    return ReplaySignal(
        time=at(bar),
        instrument=instrument,
        type=kind,
        layer=layer,
        price=price,
        lots=1,
        lots_left=1,
        trades=(bar,),
        reason=f"{kind.value} at bar {bar}",
        entry_time=at(bar),
    )


class Decisions:
    """Every signal the replay handed to the live code, with its decision."""

    def __init__(self) -> None:
        self.seen: list[tuple[Signal, Decision]] = []

    def __call__(self, sent: Signal, decision: Decision) -> None:
        self.seen.append((sent, decision))

    def of(self, kind: SignalType) -> list[Decision]:
        return [d for s, d in self.seen if isinstance(s, TradingSignal) and s.type is kind]

    def bars(self) -> list[tuple[MarketData, Decision]]:
        return [(s, d) for s, d in self.seen if isinstance(s, MarketData)]


def free_of_commission(config: Config) -> Config:
    return replace(config, paper=replace(config.paper, commission_pct=0.0))


def run(
    config: Config, bars: list[Bars], signals: list[ReplaySignal], **options: Any
) -> tuple[ReplayResult, Decisions]:
    seen = Decisions()
    result = replay_basso(
        signals,
        {b.instrument: b for b in bars},
        {b.instrument: average_true_range(b.highs, b.lows, b.closes, 1) for b in bars},
        capital=5_000_000,
        config=options.pop("rules", free_of_commission(config)),
        on_decision=seen,
        **options,
    )
    return result, seen


# Gold Mini: flat at 78,500 for bars 0–1, base entry at bar 2's open at 78,500, up 50 a bar to 78,700 (bar 5),
# a pyramid at bar 4's open at 78,600 (1R gate fails) and at bar 6's open at 78,700 (passes), up to 78,800
# (bar 7), then down 50 a bar until the close of bar 12 (78,550) falls below both stops (78,600).
TREND = [78500, 78500, 78550, 78600, 78650, 78700, 78750, 78800, 78750, 78700, 78650, 78600, 78550, 78500]
TREND_SIGNALS = [
    signal(SignalType.BASE_ENTRY, "GOLD_MINI", 2, 78500),
    signal(SignalType.PYRAMID, "GOLD_MINI", 4, 78600, layer=2),
    signal(SignalType.PYRAMID, "GOLD_MINI", 6, 78700, layer=2),
]


@pytest.fixture
def trend(config: Config) -> tuple[ReplayResult, Decisions]:
    return run(config, [hand_bars("GOLD_MINI", [float(c) for c in TREND])], TREND_SIGNALS)


def test_base_entry_is_sized_by_the_live_rules_and_volatility_limited(trend: tuple[ReplayResult, Decisions]) -> None:
    _, seen = trend
    [base] = seen.of(SignalType.BASE_ENTRY)
    # ATR 100 ⇒ stop 78,500 − 1.0 × 100 = 78,400. E = ₹50,00,000.
    # Lot-R = 50,00,000 × 0.5 % ÷ (100 × 10) = 25; Lot-V = 50,00,000 × 0.2 % ÷ (100 × 10) = 10;
    # Lot-M = 50,00,000 × 60 % ÷ 1,05,000 = 28.571 ⇒ 10 lots, volatility-limited.
    assert base.outcome is SignalOutcome.EXECUTED
    assert (base.record["lot_r"], base.record["lot_v"], base.record["lot_m"]) == (25.0, 10.0, pytest.approx(28.5714))
    assert (base.record["lots"], base.record["limiter"], base.record["stop"]) == (10, "volatility", 78400.0)


def test_pyramid_waits_for_the_1r_gate_then_gets_the_smallest_of_a_to_d(trend: tuple[ReplayResult, Decisions]) -> None:
    _, seen = trend
    early, later = seen.of(SignalType.PYRAMID)
    # At 78,600: 78,600 − 78,500 = 100 is not more than 1R = 78,500 − 78,400 = 100.
    assert early.outcome is SignalOutcome.BLOCKED
    assert "1R" in early.reason
    # At 78,700 (base stop trailed to 78,700 − 2 × 100 = 78,500; pyramid stop 78,700 − 100 = 78,600):
    # open profit 200 × 10 × 10 = 20,000; E = 50,00,000 + 50 % × 20,000 = 50,10,000; base risk 100 × 10 × 10 = 10,000.
    # A = (50,10,000 × 60 % − 10 × 1,05,000) ÷ 1,05,000 = 18.63; B = 10 × 0.5 = 5;
    # C = 0.5 × (20,000 − 10,000) ÷ (100 × 10) = 5; D = 12 % × 50,10,000 ÷ 1,000 = 601.2 ⇒ 5 lots.
    assert later.outcome is SignalOutcome.EXECUTED
    assert later.record["lots"] == 5
    assert later.record["a_margin"] == pytest.approx(18.6286, abs=1e-4)
    assert (later.record["b_discipline"], later.record["c_profit_budget"]) == (5.0, 5.0)
    assert later.record["d_headroom"] == pytest.approx(601.2)


def test_trailing_stops_close_both_layers_on_the_first_close_below_them(trend: tuple[ReplayResult, Decisions]) -> None:
    result, _ = trend
    # Highest close 78,800 ⇒ both stops at 78,800 − 200 = 78,600; closes 78,750 … 78,600 hold (not below);
    # bar 12's 78,550 is below: base (78,550 − 78,500) × 10 × 10 = 5,000, pyramid (78,550 − 78,700) × 5 × 10 = −7,500.
    assert [(t.layer, t.lots, t.entry_price, t.exit_price, t.pnl) for t in result.closed] == [
        (1, 10, 78500.0, 78550.0, Decimal("5000.00")),
        (2, 5, 78700.0, 78550.0, Decimal("-7500.00")),
    ]
    assert all(t.exit_time == at(13) for t in result.closed)  # bar 12 closes when bar 13 opens
    assert all(t.reason.startswith("stop hit") for t in result.closed)
    assert result.open == ()
    assert portfolio_stats(result).net_pnl == Decimal("-2500.00")


def test_peel_off_sheds_the_lots_above_the_ongoing_volatility_limit(config: Config) -> None:
    # Bar 3's range is 160 (ATR 160): 10 lots × 160 × 10 = 16,000 = 0.32 % of 50,00,000 > 0.3 %.
    # Excess 16,000 − 15,000 = 1,000 ÷ 1,600 a lot ⇒ peel ceil(0.625) = 1 lot at 78,500. Risk 10,000 = 0.2 % is fine.
    bars = hand_bars("GOLD_MINI", [78500.0] * 6, wide={3: 160.0})
    result, seen = run(config, [bars], [signal(SignalType.BASE_ENTRY, "GOLD_MINI", 2, 78500)])
    peeled = [d for _, d in seen.bars() if d.exits]
    assert len(peeled) == 1
    assert peeled[0].exits[0].lots == 1
    assert peeled[0].reason.startswith("peel 1 of 10 lots")
    assert [(t.lots, t.pnl) for t in result.closed] == [(1, Decimal("0.00"))]
    assert [t.lots for t in result.open] == [9]


def test_an_entry_that_would_breach_the_portfolio_volatility_cap_is_blocked(config: Config) -> None:
    # Cap lowered to 0.2 %: Gold takes 10 lots = 10,000 = exactly 0.2 %. Silver Mini (pv 5, stop 2 × ATR) would
    # take 5 lots (margin: (30,00,000 − 10,50,000) ÷ 3,85,000 = 5.06), but the room under the cap is
    # (0.2 % × 50,00,000 − 10,000) ÷ (100 × 5) = 0 lots ⇒ blocked.
    rules = free_of_commission(config)
    rules = replace(rules, portfolio=replace(rules.portfolio, max_vol_pct=0.2))
    gold = hand_bars("GOLD_MINI", [78500.0] * 5)
    silver = hand_bars("SILVER_MINI", [70000.0] * 5)
    signals = [
        signal(SignalType.BASE_ENTRY, "GOLD_MINI", 2, 78500),
        signal(SignalType.BASE_ENTRY, "SILVER_MINI", 3, 70000),
    ]
    result, seen = run(config, [gold, silver], signals, rules=rules)
    first, second = seen.of(SignalType.BASE_ENTRY)
    assert (first.outcome, first.record["lots"]) == (SignalOutcome.EXECUTED, 10)
    assert second.outcome is SignalOutcome.BLOCKED
    assert second.record["lot_m"] == pytest.approx(1_950_000 / 385_000, abs=1e-4)  # recorded to 4 places
    assert "volatility" in second.reason
    assert [(t.instrument, t.lots) for t in result.open] == [("GOLD_MINI", 10)]
    # The note is a sentence with the real figures of the first such block, never a template with "n" in it.
    note = next(note for note in result.notes if note.startswith("BASE_ENTRY blocked by"))
    assert note.startswith(
        "BASE_ENTRY blocked by sizing (0 lots, portfolio volatility cap): 1; the first, SILVER_MINI Long_1 on "
    )
    assert note.endswith(
        ": 0 lots, portfolio volatility cap (reduced from 5 by the portfolio volatility cap) "
        f"(Lot-R {second.record['lot_r']:.2f}, Lot-V {second.record['lot_v']:.2f}, Lot-M 5.06)"
    )


def test_a_strategy_exit_closes_the_layer_and_a_later_one_is_ignored(config: Config) -> None:
    bars = hand_bars("GOLD_MINI", [78500.0, 78500.0, 78550.0, 78600.0, 78650.0])
    signals = [
        signal(SignalType.BASE_ENTRY, "GOLD_MINI", 2, 78500),
        signal(SignalType.EXIT, "GOLD_MINI", 4, 78600),
        signal(SignalType.EXIT, "GOLD_MINI", 4, 78600),
    ]
    for fast in (True, False):
        result, seen = run(config, [bars], signals, fast=fast)
        assert [(t.lots, t.exit_price, t.pnl) for t in result.closed] == [
            (10, 78600.0, Decimal("10000.00"))
        ]  # 100 × 10 × 10
        assert "EXIT: ignored: 1" in result.notes
    # Handing every event to the live code, the second exit is answered "ignored" by `decide` itself.
    assert [d.outcome for d in seen.of(SignalType.EXIT)] == [SignalOutcome.EXECUTED, SignalOutcome.IGNORED]


def test_commission_is_charged_on_both_sides_and_the_entry_share_follows_each_closing(config: Config) -> None:
    # 0.05 % a side: entry 10 × 10 × 78,500 × 0.05 % = 3,925; the peel of 1 lot carries 392.50 of it plus its own
    # exit 1 × 10 × 78,500 × 0.05 % = 392.50; the other 9 close at 78,500 with 3,532.50 + 3,532.50.
    rules = replace(config, paper=replace(config.paper, commission_pct=0.05))
    bars = hand_bars("GOLD_MINI", [78500.0] * 6, wide={3: 160.0})
    signals = [signal(SignalType.BASE_ENTRY, "GOLD_MINI", 2, 78500), signal(SignalType.EXIT, "GOLD_MINI", 5, 78500)]
    result, _ = run(config, [bars], signals, rules=rules)
    assert [(t.lots, t.commission, t.pnl) for t in result.closed] == [
        (1, Decimal("785.00"), Decimal("-785.00")),
        (9, Decimal("7065.00"), Decimal("-7065.00")),
    ]


def test_without_bars_for_an_instrument_basso_sizing_says_what_it_needs(config: Config) -> None:
    bars = hand_bars("GOLD_MINI", [78500.0] * 3)
    with pytest.raises(ValueError, match="needs bars for BANK_NIFTY: the exports carry no stop or ATR"):
        run(config, [bars], [signal(SignalType.BASE_ENTRY, "BANK_NIFTY", 1, 50000)])


def test_an_entry_before_any_atr_is_skipped_and_noted(config: Config) -> None:
    bars = hand_bars("GOLD_MINI", [78500.0] * 3)
    result, seen = run(config, [bars], [signal(SignalType.BASE_ENTRY, "GOLD_MINI", 0, 78500)])
    assert seen.seen == []
    assert result.notes == ("BASE_ENTRY: skipped, no ATR yet (before the GOLD_MINI bars): 1",)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_decides_exactly_like_handing_every_bar_to_the_live_code(config: Config, seed: int) -> None:
    # A seeded random walk with volatility regimes and a breakout strategy with pyramids, replayed twice: once
    # with the fast path, once with every bar through `decide`. Same decisions, same trades, same money.
    bars = random_walk_bars(
        "GOLD_MINI", 3000, seed=seed, start=START, price=60000.0, volatility=0.004, regime_switch=0.02, drift=0.0003
    )
    atrs = average_true_range(bars.highs, bars.lows, bars.closes, 10)
    signals = breakout_signals(bars, atrs, lookback=20, stop_multiple=1.5, pyramids=3)
    runs = [Decisions(), Decisions()]
    replays = [
        replay_basso(
            signals,
            {"GOLD_MINI": bars},
            {"GOLD_MINI": atrs},
            capital=5_000_000,
            config=config,
            fast=fast,
            on_decision=seen,
        )
        for fast, seen in zip((True, False), runs, strict=True)
    ]
    notes = " | ".join(replays[0].notes)
    for happened in ("bar exits (peel-off)", "bar exits (stop hit)", "EXIT: executed", "BASE_ENTRY blocked by"):
        assert happened in notes  # the run exercises every kind of decision
    assert replays[0].closed == replays[1].closed
    assert replays[0].open == replays[1].open
    assert replays[0].notes == replays[1].notes
    acting = [
        [
            (s, d)
            for s, d in seen.seen
            if (not isinstance(s, MarketData) or d.exits) and d.outcome is not SignalOutcome.IGNORED
        ]
        for seen in runs
    ]
    assert acting[0] == acting[1]  # every signal, and every bar on which a rule acted, decided alike
    assert any(d.outcome is SignalOutcome.IGNORED for _, d in runs[1].seen)  # the fast path answered those alike


@pytest.mark.parametrize("seed", [4, 5])
def test_fast_path_decides_like_the_live_code_across_two_instruments(config: Config, seed: int) -> None:
    # Two instruments whose bars interleave (Bank Nifty on the half hour) and an emergency limit low enough to
    # fire: the fast path's unrealised P&L and open risk span both instruments' layers.
    rules = replace(config, portfolio=replace(config.portfolio, emergency_risk_pct=0.6, emergency_target_risk_pct=0.4))
    walks = {
        "GOLD_MINI": random_walk_bars(
            "GOLD_MINI", 2000, seed=seed, start=START, price=60000.0, volatility=0.004, regime_switch=0.02, drift=0.0003
        ),
        "BANK_NIFTY": random_walk_bars(
            "BANK_NIFTY",
            2000,
            seed=seed + 100,
            start=START + timedelta(minutes=30),
            price=48000.0,
            volatility=0.005,
            regime_switch=0.02,
            drift=0.0003,
        ),
    }
    atrs = {name: average_true_range(b.highs, b.lows, b.closes, 10) for name, b in walks.items()}
    signals = sorted(
        (
            s
            for name, b in walks.items()
            for s in breakout_signals(b, atrs[name], lookback=20, stop_multiple=1.5, pyramids=2)
        ),
        key=lambda s: s.time,
    )
    runs = [Decisions(), Decisions()]
    replays = [
        replay_basso(signals, walks, atrs, capital=5_000_000, config=rules, fast=fast, on_decision=seen)
        for fast, seen in zip((True, False), runs, strict=True)
    ]
    notes = " | ".join(replays[0].notes)
    for happened in ("bar exits (emergency)", "bar exits (stop hit)", "bar exits (peel-off)"):
        assert happened in notes
    assert {t.instrument for t in replays[0].closed} == {"GOLD_MINI", "BANK_NIFTY"}
    assert replays[0].closed == replays[1].closed
    assert replays[0].open == replays[1].open
    assert replays[0].notes == replays[1].notes
    acting = [
        [
            (s, d)
            for s, d in seen.seen
            if (not isinstance(s, MarketData) or d.exits) and d.outcome is not SignalOutcome.IGNORED
        ]
        for seen in runs
    ]
    assert acting[0] == acting[1]


def test_same_seed_same_bars_same_result(config: Config) -> None:
    first, second = (random_walk_bars("GOLD_MINI", 500, seed=9, start=START, price=60000.0) for _ in range(2))
    assert first == second
    assert random_walk_bars("GOLD_MINI", 500, seed=10, start=START, price=60000.0) != first
