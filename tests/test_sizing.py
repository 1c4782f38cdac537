"""Base-entry sizing (docs/rules.md §3): every number of docs/rules.md's tables, the float guard, the portfolio gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basso.config import Config
from basso.rules.sizing import (
    SizingDecision,
    entry_stop,
    lot_r,
    lots_to_cover,
    lots_within,
    size_base_entry,
    whole_lots,
)


def bank_nifty_entry(config: Config, equity: float, **overrides: float) -> SizingDecision:
    """The docs/rules.md §3 Bank Nifty example: price 52,000, stop 51,650, ATR 350, ER 0.82, nothing open."""
    args: dict[str, float] = {"price": 52_000, "signal_stop": 51_650, "atr": 350, "er": 0.82, **overrides}
    return size_base_entry(instrument=config.instrument("BANK_NIFTY"), rules=config.portfolio, equity=equity, **args)


# Risk per lot = (52,000 − 51,650) × 30 = 10,500; vol per lot = 350 × 30 = 10,500.
# Lot-R = E × 0.5 % ÷ 10,500 × 0.82; Lot-V = E × 0.5 % ÷ 10,500; Lot-M = E × 60 % ÷ 2,70,000.
@pytest.mark.parametrize(
    ("equity", "r", "v", "m", "lots"),
    [
        (1_000_000, 0.390, 0.476, 2.22, 0),  # 5,000 ÷ 10,500 × 0.82 = 0.3905; 6 L ÷ 2.7 L = 2.22
        (5_000_000, 1.952, 2.381, 11.11, 1),  # 25,000 ÷ 10,500 × 0.82 = 1.9524; 30 L ÷ 2.7 L = 11.11
        (10_000_000, 3.905, 4.762, 22.22, 3),  # 50,000 ÷ 10,500 × 0.82 = 3.9048; 60 L ÷ 2.7 L = 22.22
    ],
)
def test_bank_nifty_table_rows_size_as_in_the_spec(
    config: Config, equity: float, r: float, v: float, m: float, lots: int
) -> None:
    decision = bank_nifty_entry(config, equity)
    assert round(decision.lot_r, 3) == r
    assert round(decision.lot_v, 3) == v
    assert round(decision.lot_m, 2) == m
    assert decision.lots == lots
    assert decision.limiter == "risk"


def test_ten_lakh_bank_nifty_is_blocked_with_a_reason_not_an_error(config: Config) -> None:
    decision = size_base_entry(
        instrument=config.instrument("BANK_NIFTY"),
        rules=config.portfolio,
        equity=1_000_000,
        price=52_000,
        signal_stop=51_650,
        atr=350,
        er=0.82,
    )
    assert decision.blocked
    assert decision.reason == "0 lots, risk-limited"


def test_gold_mini_is_two_lots_volatility_limited(config: Config) -> None:
    # E 50 L, nothing used: margin room = 30 L. R = 25,000 ÷ (700 × 10) × 0.85 = 3.036;
    # V = 50 L × 0.2 % ÷ (450 × 10) = 2.222; M = 30 L ÷ 1,05,000 = 28.57 ⇒ floor(2.222) = 2.
    decision = size_base_entry(
        instrument=config.instrument("GOLD_MINI"),
        rules=config.portfolio,
        equity=5_000_000,
        price=78_500,
        signal_stop=77_800,
        atr=450,
        er=0.85,
    )
    assert (round(decision.lot_r, 3), round(decision.lot_v, 3), round(decision.lot_m, 2)) == (3.036, 2.222, 28.57)
    assert decision.lots == 2
    assert decision.limiter == "volatility"
    assert decision.reason == "2 lots, volatility-limited"


def test_margin_already_used_limits_lot_m(config: Config) -> None:
    # Gold, E 50 L, 29 L of the 30 L budget used: M = 1 L ÷ 1,05,000 = 0.952 ⇒ 0 lots, margin-limited.
    decision = size_base_entry(
        instrument=config.instrument("GOLD_MINI"),
        rules=config.portfolio,
        equity=5_000_000,
        price=78_500,
        signal_stop=77_800,
        atr=450,
        er=0.85,
        margin_used=2_900_000,
    )
    assert round(decision.lot_m, 3) == 0.952
    assert (decision.lots, decision.limiter) == (0, "margin")
    assert decision.reason == "0 lots, margin-limited"


def test_lot_m_never_goes_below_zero_when_margin_is_overused(config: Config) -> None:
    decision = size_base_entry(
        instrument=config.instrument("GOLD_MINI"),
        rules=config.portfolio,
        equity=5_000_000,
        price=78_500,
        signal_stop=77_800,
        atr=450,
        margin_used=4_000_000,
    )
    assert decision.lot_m == 0.0
    assert decision.lots == 0


def test_er_scaling_off_ignores_the_efficiency_ratio(config: Config) -> None:
    # ₹1 Cr without ER: R = 50,000 ÷ 10,500 = 4.762, V = 4.762 too: a tie names risk ⇒ 4 lots.
    rules = replace(config.portfolio, er_scaling=False)
    decision = size_base_entry(
        instrument=config.instrument("BANK_NIFTY"),
        rules=rules,
        equity=10_000_000,
        price=52_000,
        signal_stop=51_650,
        atr=350,
        er=0.82,
    )
    assert round(decision.lot_r, 3) == 4.762
    assert (decision.lots, decision.limiter) == (4, "risk")


def test_atr_stop_source_sizes_from_the_stop_the_position_will_carry(config: Config) -> None:
    # Gold 78,500 with ATR 700 and initial multiple 1.0 ⇒ stop 77,800 whatever the signal said.
    rules = replace(config.portfolio, stop_source="atr")
    decision = size_base_entry(
        instrument=config.instrument("GOLD_MINI"),
        rules=rules,
        equity=5_000_000,
        price=78_500,
        signal_stop=78_000,
        atr=700,
        er=0.85,
    )
    assert decision.stop == 77_800
    # R = 25,000 ÷ (700 × 10) × 0.85 = 3.036
    assert round(decision.lot_r, 3) == 3.036


def test_entry_stop_takes_the_signal_stop_by_default(config: Config) -> None:
    stop = entry_stop(
        price=52_000, signal_stop=51_650, atr=350, instrument=config.instrument("BANK_NIFTY"), rules=config.portfolio
    )
    assert stop == 51_650


def test_drawdown_risk_multiplier_is_applied_to_the_risk_percent(config: Config) -> None:
    # ₹1 Cr Bank Nifty at 10 % drawdown: risk 0.5 % × 0.5 ⇒ R = 25,000 ÷ 10,500 × 0.82 = 1.952 ⇒ 1 lot.
    decision = bank_nifty_entry(config, 10_000_000, risk_multiplier=0.5)
    assert round(decision.lot_r, 3) == 1.952
    assert decision.lots == 1
    assert "risk × 0.5" in decision.reason


def test_size_factor_halves_the_whole_lots(config: Config) -> None:
    # ₹1 Cr: floor(3.905) = 3, halved in the yellow vol zone ⇒ floor(1.5) = 1.
    decision = bank_nifty_entry(config, 10_000_000, size_factor=0.5)
    assert decision.lots == 1


def test_portfolio_risk_gate_reduces_to_the_largest_lots_that_fit(config: Config) -> None:
    # ₹1 Cr: cap 15 % = 15 L. Open risk 14.7 L leaves 30,000 ÷ 10,500 per lot = 2.86 ⇒ 2 of the 3 lots.
    decision = bank_nifty_entry(config, 10_000_000, open_risk=1_470_000)
    assert (decision.lots_before_gate, decision.lots) == (3, 2)
    assert decision.limiter == "portfolio_risk"
    assert decision.reason == "2 lots, portfolio risk cap (reduced from 3 by the portfolio risk cap)"


def test_portfolio_vol_gate_can_block_with_the_reason(config: Config) -> None:
    # ₹1 Cr: cap 5 % = 5 L. Open vol 4.95 L leaves 5,000 ÷ 10,500 = 0.48 ⇒ 0 lots.
    decision = bank_nifty_entry(config, 10_000_000, open_volatility=495_000)
    assert (decision.lots, decision.limiter) == (0, "portfolio_vol")
    assert decision.reason.startswith("0 lots, portfolio volatility cap")


def test_portfolio_gate_lets_risk_reach_the_cap_exactly(config: Config) -> None:
    # Open 14.685 L + 3 × 10,500 = 15 L exactly = 15 % of ₹1 Cr: "above 15 %" is blocked, 15 % is not.
    decision = bank_nifty_entry(config, 10_000_000, open_risk=1_468_500)
    assert decision.lots == 3


def test_a_float_just_below_a_whole_lot_keeps_the_lot() -> None:
    # 3,00,000 × 0.7 % = 2,100; (100.3 − 99.6) × 30 = 21 ⇒ exactly 100 lots, which float computes as
    # 99.99999999999959. The guard must give 100.
    raw = lot_r(equity=300_000, risk_pct=0.7, price=100.3, stop=99.6, point_value=30)
    assert raw < 100
    assert whole_lots(raw) == 100
    assert whole_lots(0.3 / 0.1) == 3


def test_a_real_fraction_below_a_lot_still_floors_down() -> None:
    assert whole_lots(2.999) == 2
    assert whole_lots(0.9999) == 0
    assert whole_lots(-1.5) == 0


def test_lots_to_cover_rounds_up_a_real_fraction_but_not_float_noise() -> None:
    assert lots_to_cover(70_000 / 12_000) == 6  # 5.83
    assert lots_to_cover(5.0000000000001) == 5
    assert lots_to_cover(0.0) == 0


def test_a_stop_at_or_above_the_price_is_refused(config: Config) -> None:
    with pytest.raises(ValueError, match="stop 52000 must be below price 52000"):
        bank_nifty_entry(config, 5_000_000, signal_stop=52_000)


def test_zero_atr_is_refused(config: Config) -> None:
    with pytest.raises(ValueError, match="ATR must be greater than 0"):
        bank_nifty_entry(config, 5_000_000, atr=0)


def test_historical_point_value_sizes_with_the_lot_size_of_the_day(config: Config) -> None:
    # In 2024-01 the lot was 15: risk per lot = 350 × 15 = 5,250 ⇒ R at ₹50 L = 25,000 ÷ 5,250 × 0.82 = 3.905.
    bank_nifty = config.instrument("BANK_NIFTY")
    decision = bank_nifty_entry(config, 5_000_000, point_value=bank_nifty.point_value_on(date(2024, 1, 15)))
    assert round(decision.lot_r, 3) == 3.905


@given(
    equity=st.floats(1e5, 1e9),
    distance=st.floats(0.05, 5_000),
    atr=st.floats(0.05, 5_000),
    er=st.floats(0, 1),
    margin_used=st.floats(0, 1e9),
    open_risk=st.floats(0, 2e8),
    open_vol=st.floats(0, 1e8),
)
def test_lots_never_exceed_any_constraint_or_the_portfolio_caps(
    config: Config,
    equity: float,
    distance: float,
    atr: float,
    er: float,
    margin_used: float,
    open_risk: float,
    open_vol: float,
) -> None:
    price = 50_000.0
    decision = size_base_entry(
        instrument=config.instrument("BANK_NIFTY"),
        rules=config.portfolio,
        equity=equity,
        price=price,
        signal_stop=price - distance,
        atr=atr,
        er=er,
        margin_used=margin_used,
        open_risk=open_risk,
        open_volatility=open_vol,
    )
    slack = 1e-9 * max(1.0, decision.lots)  # the documented float guard of whole_lots
    assert decision.lots >= 0
    assert decision.lots <= min(decision.lot_r, decision.lot_v, decision.lot_m) + slack
    if decision.lots:
        risk_per_lot = (price - decision.stop) * 30
        # The gate never takes portfolio risk or volatility above its cap (15 %, 5 % of equity).
        assert open_risk + decision.lots * risk_per_lot <= 0.15 * equity * (1 + 1e-9)
        assert open_vol + decision.lots * atr * 30 <= 0.05 * equity * (1 + 1e-9)


@given(cap=st.floats(1, 30), equity=st.floats(1e4, 1e9), current=st.floats(0, 1e8), per_lot=st.floats(1, 1e6))
def test_lots_within_is_the_largest_count_that_fits(cap: float, equity: float, current: float, per_lot: float) -> None:
    n = lots_within(cap_pct=cap, equity=equity, current=current, per_lot=per_lot)
    budget = cap / 100 * equity
    assert current + n * per_lot <= budget * (1 + 1e-9) or n == 0
    assert current + (n + 1) * per_lot > budget


def test_no_equity_is_a_blocked_decision_not_a_crash(config: Config) -> None:
    decision = bank_nifty_entry(config, -250_000)
    assert (decision.lots, decision.lot_r, decision.lot_v, decision.lot_m) == (0, 0.0, 0.0, 0.0)
    assert decision.reason == "0 lots, no equity to size from (−₹2,50,000.00)"
