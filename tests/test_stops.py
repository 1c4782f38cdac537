"""Stops, peel-off and emergency exits (docs/rules.md §6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basso.config import Config
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.stops import (
    emergency_due,
    emergency_exits,
    initial_stop,
    limit_fraction,
    peel_off,
    peel_off_due,
    peel_off_lots,
    stop_hit,
    trail,
    trail_layer,
)


def gold(*, stop: float = 77_800, highest: float = 78_500, lots: int = 2) -> Layer:
    return Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=lots,
        entry_price=78_500,
        initial_stop=77_800,
        stop=stop,
        highest_close=highest,
        point_value=10,
    )


def test_gold_initial_stop_is_entry_minus_one_atr(config: Config) -> None:
    # 78,500 − 1.0 × 700 = 77,800
    assert initial_stop(78_500, 700, config.instrument("GOLD_MINI").initial_stop_atr) == 77_800


def test_trailing_stop_waits_until_the_trail_passes_the_initial_stop() -> None:
    # close 79,000: highest 79,000, trail 79,000 − 2 × 700 = 77,600 < 77,800 ⇒ stop stays 77,800
    assert trail(77_800, 78_500, 79_000, 700, 2.0) == (77_800, 79_000, False)


def test_trailing_stop_ratchets_up_with_a_new_highest_close() -> None:
    # close 80,000, ATR 600: trail 80,000 − 1,200 = 78,800 ⇒ stop 78,800
    assert trail(77_800, 79_000, 80_000, 600, 2.0) == (78_800, 80_000, False)


def test_trailing_stop_never_falls_when_atr_widens() -> None:
    # close 79,500 under highest 80,000, ATR 900: trail 78,200 < 78,800 ⇒ stop stays 78,800
    assert trail(78_800, 80_000, 79_500, 900, 2.0) == (78_800, 80_000, False)


def test_a_close_strictly_below_the_stop_exits_and_a_close_at_it_does_not() -> None:
    assert trail(78_800, 80_000, 78_799, 600, 2.0)[2]
    assert not trail(78_800, 80_000, 78_800, 600, 2.0)[2]
    assert stop_hit(78_799, 78_800)
    assert not stop_hit(78_800, 78_800)


def test_the_exit_is_checked_against_the_stop_this_bar_ratcheted_to() -> None:
    # highest 80,000, ATR falls to 100: stop rises to 79,800; the same bar's close 79,700 is below it ⇒ exit.
    assert trail(78_800, 80_000, 79_700, 100, 2.0) == (79_800, 80_000, True)


def test_trail_layer_uses_the_instruments_trailing_multiple(config: Config) -> None:
    # Gold trailing multiple 2.0: close 80,000, ATR 600 ⇒ stop 78,800, highest 80,000
    result = trail_layer(gold(), close=80_000, atr=600, instrument=config.instrument("GOLD_MINI"))
    assert (result.layer.stop, result.layer.highest_close, result.exit) == (78_800, 80_000, False)
    assert result.layer.initial_stop == 77_800  # the initial stop is history, not moved


@given(st.lists(st.tuples(st.floats(1_000, 100_000), st.floats(1, 5_000)), min_size=1, max_size=50))
def test_the_stop_and_the_highest_close_never_fall(bars: list[tuple[float, float]]) -> None:
    stop, highest = 49_000.0, 50_000.0
    for close, atr in bars:
        new_stop, new_highest, exits = trail(stop, highest, close, atr, 2.5)
        assert new_stop >= stop
        assert new_highest >= highest
        assert new_highest >= close
        assert exits == (close < new_stop)
        stop, highest = new_stop, new_highest


def test_peel_off_vector_from_the_spec(config: Config) -> None:
    # E 50 L, 10 lots, risk/lot 400 × 30 = 12,000 (2.4 %), vol/lot 300 × 30 = 9,000 (1.8 %):
    # peel_R = ceil((1,20,000 − 50,000) ÷ 12,000) = ceil(5.83) = 6; peel_V = ceil((90,000 − 35,000) ÷ 9,000) =
    # ceil(6.11) = 7 ⇒ 7 lots.
    layer = Layer(
        instrument="BANK_NIFTY",
        layer=1,
        lots=10,
        entry_price=52_000,
        initial_stop=51_600,
        stop=51_600,
        highest_close=52_000,
        point_value=30,
    )
    decision = peel_off(layer, atr=300, equity=5_000_000, instrument=config.instrument("BANK_NIFTY"))
    assert decision.lots == 7
    assert (round(decision.risk_pct, 2), round(decision.vol_pct, 2)) == (2.4, 1.8)
    assert decision.reason.startswith("peel 7 of 10 lots")


def test_peel_off_risk_alone_when_volatility_fits() -> None:
    # E 50 L, risk 1,20,000 (2.4 % > 1 %) ⇒ 6; vol 10 × 100 × 30 = 30,000 (0.6 % ≤ 0.7 %) ⇒ 0 ⇒ 6
    assert (
        peel_off_lots(
            lots=10, risk_per_lot=12_000, vol_per_lot=3_000, equity=5_000_000, ongoing_risk_pct=1.0, ongoing_vol_pct=0.7
        )
        == 6
    )


def test_no_peel_off_at_exactly_the_ongoing_limits() -> None:
    # risk 50,000 = 1.0 % and vol 35,000 = 0.7 % of 50 L: "greater than" the limit peels, equal does not.
    assert (
        peel_off_lots(
            lots=10, risk_per_lot=5_000, vol_per_lot=3_500, equity=5_000_000, ongoing_risk_pct=1.0, ongoing_vol_pct=0.7
        )
        == 0
    )


def test_peel_off_is_capped_at_the_layers_lots() -> None:
    # E 1 L, 2 lots of 30,000 risk each: excess 60,000 − 1,000 ⇒ ceil(1.97) = 2 (of 2), never 3
    assert (
        peel_off_lots(
            lots=2, risk_per_lot=30_000, vol_per_lot=1, equity=100_000, ongoing_risk_pct=1.0, ongoing_vol_pct=100
        )
        == 2
    )


def test_a_layer_with_its_stop_above_entry_carries_no_risk_to_peel() -> None:
    assert (
        peel_off_lots(
            lots=10, risk_per_lot=0, vol_per_lot=1, equity=5_000_000, ongoing_risk_pct=1.0, ongoing_vol_pct=0.7
        )
        == 0
    )


def bn(layer: int, lots: int, entry: float, stop: float) -> Layer:
    return Layer(
        instrument="BANK_NIFTY",
        layer=layer,
        lots=lots,
        entry_price=entry,
        initial_stop=stop,
        stop=stop,
        highest_close=entry,
        point_value=30,
    )


def gold_losing(lots: int) -> Layer:
    # entry 80,000, stop 76,000: risk 4,000 × 10 = 40,000 per lot; marked at 79,000 it is losing
    return Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=lots,
        entry_price=80_000,
        initial_stop=76_000,
        stop=76_000,
        highest_close=80_000,
        point_value=10,
    )


MARKS = {"BANK_NIFTY": 51_000.0, "GOLD_MINI": 79_000.0}


def test_emergency_exits_the_smallest_profitable_layers_until_under_the_target(config: Config) -> None:
    # E 10 L. BN L1: 2 lots, risk 1,000 × 2 × 30 = 60,000 (6 %); BN L2: 1 lot, risk 30,000 (3 %);
    # Gold 3 lots losing, risk 1,20,000 (12 %). Total 21 % > 18 %. Profitable at 51,000: both BN layers.
    # Smallest first: L2 (1 lot) ⇒ 18 %, not under 15 %; then L1 ⇒ 12 % < 15 %.
    l1, l2 = bn(1, 2, 50_000, 49_000), bn(2, 1, 50_500, 49_500)
    snapshot = PortfolioSnapshot(equity=1_000_000, layers=(l1, l2, gold_losing(3)), price=MARKS)
    plan = emergency_exits(snapshot, config.portfolio)
    assert plan.triggered
    assert plan.target_reached
    assert plan.exits == (l2, l1)
    assert (round(plan.risk_pct_before, 6), round(plan.risk_pct_after, 6)) == (21.0, 12.0)


def test_emergency_says_when_the_profitable_layers_run_out(config: Config) -> None:
    # Gold 4 lots 1,60,000 (16 %) + BN L2 30,000 (3 %) = 19 %: exit L2 ⇒ 16 %, and nothing else is profitable.
    l2 = bn(2, 1, 50_500, 49_500)
    plan = emergency_exits(
        PortfolioSnapshot(equity=1_000_000, layers=(l2, gold_losing(4)), price=MARKS), config.portfolio
    )
    assert plan.exits == (l2,)
    assert not plan.target_reached


def test_no_emergency_at_exactly_eighteen_percent(config: Config) -> None:
    # BN L1 60,000 + Gold 3 lots 1,20,000 = 1,80,000 = 18 % of 10 L: not above 18 %.
    snapshot = PortfolioSnapshot(equity=1_000_000, layers=(bn(1, 2, 50_000, 49_000), gold_losing(3)), price=MARKS)
    plan = emergency_exits(snapshot, config.portfolio)
    assert not plan.triggered
    assert plan.exits == ()


def test_emergency_skips_a_profitable_layer_that_carries_no_risk(config: Config) -> None:
    # BN L3 has its stop above entry: closing it frees nothing, so it is not chosen.
    free = bn(3, 1, 50_000, 50_500)
    l1 = bn(1, 2, 50_000, 49_000)
    snapshot = PortfolioSnapshot(
        equity=1_000_000, layers=(free, l1, gold_losing(3), bn(2, 1, 50_500, 49_500)), price=MARKS
    )
    assert free not in emergency_exits(snapshot, config.portfolio).exits


def test_the_peel_off_and_emergency_limits_have_one_definition(config: Config) -> None:
    # E ₹10 L: 18 % is ₹1,80,000, not above the emergency limit; a rupee more is. The backtest's fast path
    # compares against the same `limit_fraction` (less its margin), so it asks the live rules no later.
    rules = config.portfolio
    assert not emergency_due(risk=180_000, equity=1_000_000, rules=rules)
    assert emergency_due(risk=180_001, equity=1_000_000, rules=rules)
    assert emergency_due(risk=1, equity=0, rules=rules)  # no equity: any risk is too much
    # Gold's ongoing limits are 1 % risk and 0.3 % volatility: ₹10,000 and ₹3,000 of ₹10 L.
    gold_limits = {"ongoing_risk_pct": 1.0, "ongoing_vol_pct": 0.3}
    assert not peel_off_due(risk=10_000, vol=3_000, equity=1_000_000, **gold_limits)
    assert peel_off_due(risk=10_001, vol=0, equity=1_000_000, **gold_limits)
    assert peel_off_due(risk=0, vol=3_001, equity=1_000_000, **gold_limits)
    assert limit_fraction(18.0, 1e-6) < limit_fraction(18.0) == pytest.approx(0.18)
