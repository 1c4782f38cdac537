"""Pyramids (docs/rules.md §5): the six gates in order with their reasons, and the A/B/C/D size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basso.config import Config
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.pyramid import PyramidDecision, decide_pyramid

# Base: 10 lots at 51,500, initial stop 51,000 ⇒ 1R = 500, base initial risk = 500 × 10 × 30 = 1,50,000.
# At 52,500 its open profit is 1,000 × 10 × 30 = 3,00,000 ⇒ 1,50,000 after base risk (docs/rules.md §5's figure).
BASE = Layer(
    instrument="BANK_NIFTY",
    layer=1,
    lots=10,
    entry_price=51_500,
    initial_stop=51_000,
    stop=51_000,
    highest_close=51_500,
    point_value=30,
)
# E ₹1 Cr with 50 L of margin used ⇒ room = 60 L − 50 L = 10 L, docs/rules.md §5's ₹10 L.
EQUITY, MARGIN_USED = 10_000_000, 5_000_000


def snapshot(
    *extra: Layer, atr: dict[str, float] | None = None, margin_used: float = MARGIN_USED, base: Layer | None = BASE
) -> PortfolioSnapshot:
    layers = ((base,) if base else ()) + extra
    return PortfolioSnapshot(
        equity=EQUITY,
        layers=layers,
        atr=atr or {"BANK_NIFTY": 350, "GOLD_MINI": 400},
        price={"BANK_NIFTY": 52_500, "GOLD_MINI": 80_000},
        margin_used=margin_used,
    )


def decide(
    config: Config,
    state: PortfolioSnapshot,
    *,
    price: float = 52_500,
    stop: float = 52_000,
    atr: float = 350,
    instrument: str = "BANK_NIFTY",
) -> PyramidDecision:
    return decide_pyramid(
        snapshot=state,
        instrument=config.instrument(instrument),
        rules=config.pyramid,
        portfolio=config.portfolio,
        price=price,
        stop=stop,
        atr=atr,
    )


def failed(decision: PyramidDecision) -> list[str]:
    """The names of the gates `decision` failed, in the order of docs/rules.md §5."""
    return [g.name for g in decision.gates if not g.passed]


def test_spec_vector_is_three_lots_margin_limited(config: Config) -> None:
    # A = 10 L ÷ 2,70,000 = 3.70; B = 10 × 0.5 = 5; C = 0.5 × 1,50,000 ÷ ((52,500 − 52,000) × 30) = 5;
    # D = (12 % × 1 Cr − 1,50,000) ÷ 15,000 = 70 (ample) ⇒ floor(3.70) = 3, margin-limited.
    decision = decide_pyramid(
        snapshot=snapshot(),
        instrument=config.instrument("BANK_NIFTY"),
        rules=config.pyramid,
        portfolio=config.portfolio,
        price=52_500,
        stop=52_000,
        atr=350,
    )
    assert decision.size is not None
    size = decision.size
    assert (round(size.a_margin, 2), size.b_discipline, size.c_profit_budget, size.d_headroom) == (3.70, 5, 5, 70)
    assert (decision.lots, size.limiter) == (3, "margin")
    assert decision.reason == "3 lots, margin-limited"
    assert [g.name for g in decision.gates] == [
        "base_open",
        "pyramid_count",
        "one_r",
        "atr_spacing",
        "profit",
        "portfolio",
    ]
    assert all(g.passed for g in decision.gates)


def test_no_base_layer_blocks_at_the_first_gate(config: Config) -> None:
    decision = decide_pyramid(
        snapshot=snapshot(base=None),
        instrument=config.instrument("BANK_NIFTY"),
        rules=config.pyramid,
        portfolio=config.portfolio,
        price=52_500,
        stop=52_000,
        atr=350,
    )
    assert decision.lots == 0
    assert [(g.name, g.passed) for g in decision.gates] == [("base_open", False)]
    assert decision.reason == "no open base layer (Long_1) for BANK_NIFTY"


def test_max_pyramids_blocks_the_next_one(config: Config) -> None:
    # Gold allows 3 pyramids; 3 are open.
    base = Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=8,
        entry_price=76_000,
        initial_stop=75_000,
        stop=75_000,
        highest_close=76_000,
        point_value=10,
    )
    pyramids = tuple(
        Layer(
            instrument="GOLD_MINI",
            layer=n,
            lots=1,
            entry_price=76_000 + 500 * n,
            initial_stop=75_500,
            stop=75_500,
            highest_close=77_000,
            point_value=10,
        )
        for n in (2, 3, 4)
    )
    state = PortfolioSnapshot(equity=EQUITY, layers=(base, *pyramids), atr={"GOLD_MINI": 400})
    decision = decide_pyramid(
        snapshot=state,
        instrument=config.instrument("GOLD_MINI"),
        rules=config.pyramid,
        portfolio=config.portfolio,
        price=80_000,
        stop=79_000,
        atr=400,
    )
    # 80,000 − 76,000 = 4,000 > 1R 1,000; 80,000 − 78,000 = 2,000 ≥ 0.5 × 400; in profit: only the count fails.
    assert failed(decision) == ["pyramid_count"]
    assert decision.reason == "3 of 3 pyramids open"


def test_one_r_gate_is_strict(config: Config) -> None:
    # 52,000 − 51,500 = 500 = 1R: not more than 1R ⇒ blocked; 52,000.05 is more.
    at_one_r = decide(config, snapshot(), price=52_000, stop=51_800)
    beyond = decide(config, snapshot(), price=52_000.05, stop=51_800)
    # Spacing 52,000 − 51,500 = 500 ≥ 175 and profit 500 × 10 × 30 > 0 pass: only 1R fails.
    assert failed(at_one_r) == ["one_r"]
    assert next(g for g in beyond.gates if g.name == "one_r").passed


def test_atr_spacing_from_the_last_pyramid_price(config: Config) -> None:
    # Last pyramid (Long_2) at 52,400; 52,500 is 100 above it, needs 0.5 × 350 = 175 ⇒ blocked.
    long_2 = Layer(
        instrument="BANK_NIFTY",
        layer=2,
        lots=2,
        entry_price=52_400,
        initial_stop=52_000,
        stop=52_000,
        highest_close=52_400,
        point_value=30,
    )
    decision = decide(config, snapshot(long_2))
    # 1R: 1,000 > 500; profit: 3,00,000 + 100 × 2 × 30 > 0: only spacing fails.
    assert failed(decision) == ["atr_spacing"]


def test_atr_spacing_of_exactly_half_an_atr_passes(config: Config) -> None:
    # Last pyramid price 52,325: 52,500 − 52,325 = 175 = 0.5 × 350 ⇒ "≥" passes.
    long_2 = Layer(
        instrument="BANK_NIFTY",
        layer=2,
        lots=2,
        entry_price=52_325,
        initial_stop=52_000,
        stop=52_000,
        highest_close=52_325,
        point_value=30,
    )
    decision = decide(config, snapshot(long_2))
    assert next(g for g in decision.gates if g.name == "atr_spacing").passed


def test_atr_spacing_starts_at_the_base_entry(config: Config) -> None:
    # No pyramid yet: base entry 51,500 is the last pyramid price; 51,700 − 51,500 = 200 ≥ 175 but the 1R gate
    # needs more than 500, so use an explicit last price to isolate spacing: 52,400 ⇒ 100 < 175 ⇒ blocked.
    decision = decide_pyramid(
        snapshot=snapshot(),
        instrument=config.instrument("BANK_NIFTY"),
        rules=config.pyramid,
        portfolio=config.portfolio,
        price=52_500,
        stop=52_000,
        atr=350,
        last_pyramid_price=52_400,
    )
    assert failed(decision) == ["atr_spacing"]
    default = decide(config, snapshot())
    assert "last pyramid price 51500" in next(g for g in default.gates if g.name == "atr_spacing").reason


def test_profit_gate_needs_the_instruments_unrealised_pnl_above_zero(config: Config) -> None:
    # At 52,500: base +3,00,000; Long_2 10 lots at 54,000: −1,500 × 300 = −4,50,000; Long_3 1 lot at 52,000:
    # +15,000 ⇒ −1,35,000 ⇒ blocked (spacing from Long_3's 52,000 is 500 ≥ 175).
    long_2 = Layer(
        instrument="BANK_NIFTY",
        layer=2,
        lots=10,
        entry_price=54_000,
        initial_stop=53_000,
        stop=53_000,
        highest_close=54_000,
        point_value=30,
    )
    long_3 = Layer(
        instrument="BANK_NIFTY",
        layer=3,
        lots=1,
        entry_price=52_000,
        initial_stop=51_600,
        stop=51_600,
        highest_close=52_000,
        point_value=30,
    )
    decision = decide(config, snapshot(long_2, long_3))
    assert failed(decision) == ["profit"]
    assert decision.reason == "BANK_NIFTY unrealised P&L −₹1,35,000.00"


def test_every_failed_gate_is_recorded_not_only_the_first(config: Config) -> None:
    # Base 10 lots at 52,000, initial stop 51,500 (1R = 500); a pyramid at 51,000, ATR 350:
    # 1R: 51,000 − 52,000 = −1,000, not more than 500 ⇒ fails;
    # spacing: 51,000 − 52,000 (the base entry is the last pyramid price) = −1,000 < 0.5 × 350 = 175 ⇒ fails;
    # profit: (51,000 − 52,000) × 10 × 30 = −3,00,000, not above 0 ⇒ fails. The count (0 of 5) passes.
    base = Layer(
        instrument="BANK_NIFTY",
        layer=1,
        lots=10,
        entry_price=52_000,
        initial_stop=51_500,
        stop=51_500,
        highest_close=52_000,
        point_value=30,
    )
    decision = decide(config, snapshot(base=base), price=51_000, stop=50_500)
    assert [(g.name, g.passed) for g in decision.gates] == [
        ("base_open", True),
        ("pyramid_count", True),
        ("one_r", False),
        ("atr_spacing", False),
        ("profit", False),
    ]
    assert decision.lots == 0
    assert decision.reason == (
        "price 1000 points below the base entry 52000; it must be more than 1R = 500 points "
        "above; price 1000 points below the last pyramid price 52000; it must be at least "
        "0.5 × ATR = 175 points above; BANK_NIFTY unrealised P&L −₹3,00,000.00"
    )


def gold(lots: int, stop: float) -> Layer:
    return Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=lots,
        entry_price=80_000,
        initial_stop=stop,
        stop=stop,
        highest_close=80_000,
        point_value=10,
    )


def test_portfolio_gate_uses_the_lots_actually_proposed(config: Config) -> None:
    # Vol cap 4 % of 1 Cr = 4 L. BN 350 × 10 × 30 = 1,05,000; Gold 2,600 × 10 × 10 = 2,60,000 ⇒ 3,65,000.
    # With the 3 proposed lots: + 3 × 10,500 = 3,96,500 = 3.965 % < 4 % ⇒ passes
    # (a fixed 5 lots would give 4,17,500 = 4.175 % and block it).
    decision = decide(config, snapshot(gold(10, 79_000), atr={"BANK_NIFTY": 350, "GOLD_MINI": 2_600}))
    assert decision.lots == 3
    assert decision.gates[-1].name == "portfolio"
    assert decision.gates[-1].passed


def test_portfolio_gate_blocks_when_projected_volatility_reaches_the_cap(config: Config) -> None:
    # Gold ATR 2,700: 2,70,000 + 1,05,000 + 31,500 = 4,06,500 = 4.065 % ⇒ blocked.
    # Risk: BN 1,50,000 + Gold 1,000 × 10 × 10 = 1,00,000 + 3 × 15,000 = 2,95,000 = 2.95 %.
    decision = decide(config, snapshot(gold(10, 79_000), atr={"BANK_NIFTY": 350, "GOLD_MINI": 2_700}))
    assert decision.lots == 0
    assert decision.gates[-1].name == "portfolio"
    assert not decision.gates[-1].passed
    assert decision.reason.startswith("with 3 lots: risk 2.95% (< 12%), vol 4.0")


def test_the_signal_atr_is_the_instruments_latest_atr(config: Config) -> None:
    # The snapshot's older BN ATR of 100 is replaced by the signal's 350 in the projection.
    decision = decide(config, snapshot(gold(10, 79_000), atr={"BANK_NIFTY": 100, "GOLD_MINI": 2_700}))
    assert decision.lots == 0


def test_yellow_risk_zone_halves_the_pyramid(config: Config) -> None:
    # Gold 10 lots, 9,500 × 10 × 10 = 9,50,000 risk + BN base 1,50,000 = 11 % of 1 Cr (yellow).
    # D = (12 L − 11 L) ÷ 15,000 = 6.67; min(A 3.70, B 5, C 5, D 6.67) ⇒ 3, halved ⇒ floor(1.5) = 1.
    decision = decide(config, snapshot(gold(10, 70_500)))
    assert decision.size is not None
    assert decision.size.size_factor == 0.5
    assert decision.lots == 1
    assert decision.reason == "1 lot, margin-limited (halved: yellow risk zone)"


def test_headroom_limits_near_the_pyramid_risk_cap(config: Config) -> None:
    # Gold risk 10,20,000 + BN 1,50,000 = 11.7 %: D = (12 L − 11.7 L) ÷ 15,000 = 2 ⇒ 2, halved (yellow) ⇒ 1.
    decision = decide(config, snapshot(gold(10, 69_800)))
    assert decision.size is not None
    assert decision.size.limiter == "headroom"
    assert decision.size.d_headroom == pytest.approx(2.0)
    assert decision.lots == 1


def test_second_pyramid_discipline_is_a_quarter_of_the_base(config: Config) -> None:
    # Long_2 open at 52,000 (1 lot) ⇒ this is the 2nd pyramid: B = 10 × 0.5² = 2.5 ⇒ floor 2.
    # C = 0.5 × (3,00,000 + 500 × 30 − 1,50,000) ÷ 15,000 = 5.5; A 3.70 ⇒ 2, discipline-limited.
    long_2 = Layer(
        instrument="BANK_NIFTY",
        layer=2,
        lots=1,
        entry_price=52_000,
        initial_stop=51_600,
        stop=51_600,
        highest_close=52_000,
        point_value=30,
    )
    decision = decide(config, snapshot(long_2))
    assert decision.size is not None
    assert decision.size.b_discipline == 2.5
    assert (decision.lots, decision.size.limiter) == (2, "discipline")


@given(
    equity=st.floats(5e5, 5e8),
    base_lots=st.integers(1, 40),
    gold_lots=st.integers(0, 40),
    gold_stop=st.floats(60_000, 79_990),
    gold_atr=st.floats(50, 3_000),
    price=st.floats(52_050, 60_000),
    distance=st.floats(50, 2_000),
    margin_used=st.floats(0, 5e7),
)
def test_an_allowed_pyramid_stays_under_every_constraint_and_cap(
    config: Config,
    equity: float,
    base_lots: int,
    gold_lots: int,
    gold_stop: float,
    gold_atr: float,
    price: float,
    distance: float,
    margin_used: float,
) -> None:
    base = Layer(
        instrument="BANK_NIFTY",
        layer=1,
        lots=base_lots,
        entry_price=51_500,
        initial_stop=51_000,
        stop=51_000,
        highest_close=51_500,
        point_value=30,
    )
    layers = (base, gold(gold_lots, gold_stop)) if gold_lots else (base,)
    state = PortfolioSnapshot(
        equity=equity, layers=layers, atr={"BANK_NIFTY": 350, "GOLD_MINI": gold_atr}, margin_used=margin_used
    )
    decision = decide(config, state, price=price, stop=price - distance)
    if not decision.allowed:
        return
    size = decision.size
    assert size is not None
    assert decision.lots <= min(size.a_margin, size.b_discipline, size.c_profit_budget, size.d_headroom) + 1e-6
    # Projected with the lots actually added: risk < 12 %, volatility < 4 % of equity.
    risk = (51_500 - 51_000) * base_lots * 30 + (80_000 - gold_stop) * gold_lots * 10
    vol = 350 * base_lots * 30 + gold_atr * gold_lots * 10
    assert risk + decision.lots * distance * 30 < 0.12 * equity
    assert vol + decision.lots * 350 * 30 < 0.04 * equity
