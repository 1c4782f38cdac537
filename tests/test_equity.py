"""Equity modes, drawdown and the drawdown rules (docs/rules.md §2), at their boundaries."""

from __future__ import annotations

import pytest

from basso.config import Config
from basso.rules.equity import drawdown, drawdown_allowance, equity_view, layer_unrealised_pnl, unrealised_pnl
from basso.rules.layers import Layer

BN = Layer(
    instrument="BANK_NIFTY",
    layer=1,
    lots=10,
    entry_price=52_000,
    initial_stop=51_650,
    stop=51_650,
    highest_close=52_000,
    point_value=30,
)
GOLD = Layer(
    instrument="GOLD_MINI",
    layer=1,
    lots=2,
    entry_price=78_500,
    initial_stop=77_800,
    stop=77_800,
    highest_close=78_500,
    point_value=10,
)


def test_unrealised_pnl_is_mark_minus_entry_times_lots_times_point_value() -> None:
    # BN (52,600 − 52,000) × 10 × 30 = 1,80,000; Gold (78,000 − 78,500) × 2 × 10 = −10,000
    assert layer_unrealised_pnl(BN, 52_600) == 180_000
    assert unrealised_pnl([BN, GOLD], {"BANK_NIFTY": 52_600, "GOLD_MINI": 78_000}) == 170_000


def test_unrealised_pnl_without_a_mark_is_an_error() -> None:
    with pytest.raises(ValueError, match="no mark price known for GOLD_MINI"):
        unrealised_pnl([GOLD], {})


def test_every_equity_mode(config: Config) -> None:
    # closed 50 L, unrealised +2 L, highest closed 55 L, blended weight 0.5
    view = equity_view(
        closed=5_000_000,
        unrealised=200_000,
        high_water=5_500_000,
        blended_weight=config.portfolio.blended_unrealised_weight,
    )
    assert view.in_mode("closed") == 5_000_000
    assert view.in_mode("open") == 5_200_000
    assert view.in_mode("blended") == 5_100_000
    assert view.in_mode("high_water") == 5_500_000


def test_high_water_is_never_below_closed_equity() -> None:
    view = equity_view(closed=5_000_000, unrealised=0, high_water=4_000_000, blended_weight=0.5)
    assert view.high_water == 5_000_000


@pytest.mark.parametrize(
    ("equity", "peak", "expected"), [(90, 100, 0.1), (100, 100, 0.0), (110, 100, 0.0), (85, 100, 0.15), (5, 0, 0.0)]
)
def test_drawdown_is_one_minus_equity_over_peak(equity: float, peak: float, expected: float) -> None:
    assert drawdown(equity, peak) == expected


@pytest.mark.parametrize(
    ("dd_pct", "multiplier", "base_ok", "pyramids_ok"),
    [
        (0.0, 1.0, True, True),
        (4.99, 1.0, True, True),
        (5.0, 0.75, True, True),  # from 5 %: risk × 0.75
        (9.99, 0.75, True, True),
        (10.0, 0.5, False, True),  # from 10 %: risk × 0.5, no new base entries
        (15.0, 0.5, False, True),  # at 15 % pyramids are still allowed ("above 15 %" halts)
        (15.01, 0.5, False, False),  # above 15 %: no new entries or pyramids
        (60.0, 0.5, False, False),
    ],
)
def test_drawdown_bands_at_their_boundaries(
    config: Config, dd_pct: float, multiplier: float, base_ok: bool, pyramids_ok: bool
) -> None:
    allowance = drawdown_allowance(dd_pct, config.drawdown)
    assert allowance.risk_multiplier == multiplier
    assert allowance.base_entries_allowed is base_ok
    assert allowance.pyramids_allowed is pyramids_ok


def test_a_ten_percent_drawdown_from_float_arithmetic_is_in_the_ten_percent_band(config: Config) -> None:
    # 1 − 0.9 is 0.0999… in float; (peak − equity) ÷ peak keeps it at 10 % so the band does not slip.
    allowance = drawdown_allowance(drawdown(4_500_000, 5_000_000) * 100, config.drawdown)
    assert allowance.risk_multiplier == 0.5
    assert not allowance.base_entries_allowed


def test_exits_stops_peel_offs_and_rolls_are_never_blocked_even_in_a_deep_drawdown(config: Config) -> None:
    allowance = drawdown_allowance(90.0, config.drawdown)
    assert allowance.exits_allowed
    assert allowance.stops_allowed
    assert allowance.peel_offs_allowed
    assert allowance.rolls_allowed
    assert allowance.reason == "drawdown 90.00%: no new entries or pyramids"
