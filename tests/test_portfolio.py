"""Portfolio risk, volatility, margin and zones (docs/rules.md §4), at their boundaries."""

from __future__ import annotations

import pytest

from basso.config import Config
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.portfolio import (
    Zone,
    layer_open_risk,
    layer_volatility,
    margin_used,
    measure_portfolio,
    snapshot_margin,
    zone_for,
    zone_permissions,
)


def bn_layer(*, layer: int = 1, lots: int = 10, entry: float = 52_000, stop: float = 51_600) -> Layer:
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


def gold_layer(*, lots: int = 2, entry: float = 78_500, stop: float = 77_800) -> Layer:
    return Layer(
        instrument="GOLD_MINI",
        layer=1,
        lots=lots,
        entry_price=entry,
        initial_stop=stop,
        stop=stop,
        highest_close=entry,
        point_value=10,
    )


def test_layer_open_risk_is_entry_minus_stop_times_lots_times_point_value() -> None:
    # (52,000 − 51,600) × 10 × 30 = 1,20,000
    assert layer_open_risk(bn_layer()) == 120_000


def test_layer_open_risk_is_zero_once_the_stop_is_above_entry() -> None:
    assert layer_open_risk(bn_layer(stop=52_100)) == 0


def test_layer_volatility_is_latest_atr_times_lots_times_point_value() -> None:
    # 300 × 10 × 30 = 90,000
    assert layer_volatility(bn_layer(), 300) == 90_000


def test_margin_used_sums_lots_times_margin_per_lot(config: Config) -> None:
    # 10 × 2,70,000 + 2 × 1,05,000 = 29,10,000
    assert margin_used([bn_layer(), gold_layer()], config.instruments) == 2_910_000


def test_measures_of_a_two_instrument_portfolio(config: Config) -> None:
    snapshot = snapshot_margin(
        PortfolioSnapshot(
            equity=5_000_000, layers=(bn_layer(), gold_layer()), atr={"BANK_NIFTY": 300, "GOLD_MINI": 450}
        ),
        config,
    )
    measures = measure_portfolio(snapshot, config.portfolio)
    # risk: 1,20,000 + 700 × 2 × 10 = 1,34,000 ⇒ 2.68 % of 50 L
    assert measures.open_risk == 134_000
    assert measures.risk_pct == pytest.approx(2.68)
    # vol: 90,000 + 450 × 2 × 10 = 99,000 ⇒ 1.98 %
    assert measures.vol_pct == pytest.approx(1.98)
    # margin: 29,10,000 ÷ 50 L = 58.2 % ⇒ above the 50 % warning
    assert measures.margin_utilisation_pct == pytest.approx(58.2)
    assert measures.margin_warning
    assert (measures.risk_zone, measures.vol_zone) == (Zone.GREEN, Zone.GREEN)


def test_margin_warning_starts_at_fifty_percent(config: Config) -> None:
    at_half = measure_portfolio(PortfolioSnapshot(equity=1_000_000, margin_used=500_000), config.portfolio)
    below = measure_portfolio(PortfolioSnapshot(equity=1_000_000, margin_used=499_999), config.portfolio)
    assert at_half.margin_warning
    assert not below.margin_warning


def test_a_layer_without_a_known_atr_is_an_error_not_a_zero(config: Config) -> None:
    with pytest.raises(ValueError, match="no ATR known for BANK_NIFTY"):
        measure_portfolio(PortfolioSnapshot(equity=1_000_000, layers=(bn_layer(),)), config.portfolio)


@pytest.mark.parametrize(
    ("pct", "zone"),
    [
        (0.0, Zone.GREEN),
        (9.99, Zone.GREEN),
        (10.0, Zone.YELLOW),
        (12.0, Zone.YELLOW),
        (12.01, Zone.ORANGE),
        (15.0, Zone.ORANGE),
        (15.01, Zone.RED),
    ],
)
def test_risk_zones_at_their_boundaries(config: Config, pct: float, zone: Zone) -> None:
    # green < 10; yellow 10–12; orange 12–15; red > 15 (the config's bounds are "up to here").
    assert zone_for(pct, config.portfolio.risk_zones) is zone


@pytest.mark.parametrize(
    ("pct", "zone"),
    [
        (2.99, Zone.GREEN),
        (3.0, Zone.YELLOW),
        (4.0, Zone.YELLOW),
        (4.01, Zone.ORANGE),
        (5.0, Zone.ORANGE),
        (5.01, Zone.RED),
    ],
)
def test_vol_zones_at_their_boundaries(config: Config, pct: float, zone: Zone) -> None:
    assert zone_for(pct, config.portfolio.vol_zones) is zone


def test_a_boundary_reached_through_float_arithmetic_is_the_boundary(config: Config) -> None:
    # (52,000 − 51,600) × 10 × 30 = 1,20,000 of 12 L is 10 % to a trader; the float division must not say 9.99…
    snapshot = PortfolioSnapshot(equity=1_200_000, layers=(bn_layer(),), atr={"BANK_NIFTY": 1})
    assert measure_portfolio(snapshot, config.portfolio).risk_zone is Zone.YELLOW


def test_yellow_risk_halves_pyramids_only() -> None:
    allowed = zone_permissions(Zone.YELLOW, Zone.GREEN, size_factor=0.5)
    assert (allowed.pyramid_size_factor, allowed.new_size_factor) == (0.5, 1.0)
    assert allowed.pyramids_allowed
    assert allowed.new_positions_allowed


def test_orange_risk_stops_pyramids_but_not_new_positions() -> None:
    allowed = zone_permissions(Zone.ORANGE, Zone.GREEN, size_factor=0.5)
    assert not allowed.pyramids_allowed
    assert allowed.new_positions_allowed


def test_red_risk_stops_new_positions() -> None:
    assert not zone_permissions(Zone.RED, Zone.GREEN, size_factor=0.5).new_positions_allowed


def test_yellow_vol_halves_new_sizes_and_orange_vol_stops_new_positions() -> None:
    yellow = zone_permissions(Zone.GREEN, Zone.YELLOW, size_factor=0.5)
    orange = zone_permissions(Zone.GREEN, Zone.ORANGE, size_factor=0.5)
    assert yellow.new_size_factor == 0.5
    assert yellow.new_positions_allowed
    assert not orange.new_positions_allowed
    assert not orange.peel_off_pressure


def test_red_vol_is_peel_off_pressure() -> None:
    red = zone_permissions(Zone.GREEN, Zone.RED, size_factor=0.5)
    assert red.peel_off_pressure
    assert not red.new_positions_allowed


def test_zero_equity_puts_any_exposure_in_the_red(config: Config) -> None:
    snapshot = PortfolioSnapshot(equity=0, layers=(bn_layer(),), atr={"BANK_NIFTY": 300})
    measures = measure_portfolio(snapshot, config.portfolio)
    assert (measures.risk_zone, measures.vol_zone) == (Zone.RED, Zone.RED)
