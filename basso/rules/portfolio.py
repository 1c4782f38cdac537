"""Portfolio risk, volatility, margin and zones (docs/rules.md §4).

Open risk of a layer is what its stop would lose: max(0, entry − stop) × lots × pv, zero once the stop is
above the entry. Volatility is the latest ATR of its instrument × lots × pv. Percentages are of the sizing
equity. Zones say what the portfolio may still do; they are reported, and the gates read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from enum import StrEnum
from functools import cache

from basso.config import Config, Instrument, PortfolioRules, Zones
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.values import value_class

__all__ = [
    "PCT_TOLERANCE",
    "PortfolioMeasures",
    "Zone",
    "ZonePermissions",
    "above",
    "at_least",
    "layer_margin",
    "layer_open_risk",
    "layer_volatility",
    "margin_used",
    "measure_portfolio",
    "open_risk",
    "pct_of_equity",
    "snapshot_margin",
    "volatility",
    "zone_for",
    "zone_permissions",
]

# Percentages are computed from floats: 120,000 ÷ 1,200,000 × 100 may come out as 9.999999999999998 when
# the trader's arithmetic says 10. A band boundary must not move by a rounding error, so comparisons
# against a configured bound treat anything within a billionth of a percent as equal to it.
PCT_TOLERANCE = 1e-9


class Zone(StrEnum):
    """Where a percentage sits against its zone bounds."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


def at_least(pct: float, bound: float) -> bool:
    """pct ≥ bound, forgiving float error of `PCT_TOLERANCE`."""
    return pct >= bound - PCT_TOLERANCE


def above(pct: float, bound: float) -> bool:
    """pct > bound, forgiving float error of `PCT_TOLERANCE` (pct equal to bound is not above it)."""
    return pct > bound + PCT_TOLERANCE


def zone_for(pct: float, zones: Zones) -> Zone:
    """The zone of `pct`: green below `green`, yellow up to `yellow`, orange up to `orange`, red above."""
    if not at_least(pct, zones.green):
        return Zone.GREEN
    if not above(pct, zones.yellow):
        return Zone.YELLOW
    if not above(pct, zones.orange):
        return Zone.ORANGE
    return Zone.RED


@value_class
class ZonePermissions:
    """What the risk and volatility zones permit (docs/rules.md §4).

    `pyramid_size_factor` multiplies pyramid sizes (halved in the yellow risk zone); `new_size_factor`
    multiplies new sizes (halved in the yellow volatility zone); `peel_off_pressure` is set in the red
    volatility zone. Exits, stops, peel-offs and rolls are never restricted by a zone.
    """

    pyramid_size_factor: float
    new_size_factor: float
    pyramids_allowed: bool
    new_positions_allowed: bool
    peel_off_pressure: bool


@cache  # pure, and asked for every entry and pyramid: there are only 16 pairs of zones
def zone_permissions(risk_zone: Zone, vol_zone: Zone, *, size_factor: float) -> ZonePermissions:
    """What the zones permit; `size_factor` is the configured "halved" factor of the yellow zones."""
    return ZonePermissions(
        pyramid_size_factor=size_factor if risk_zone is Zone.YELLOW else 1.0,
        new_size_factor=size_factor if vol_zone is Zone.YELLOW else 1.0,
        pyramids_allowed=risk_zone in (Zone.GREEN, Zone.YELLOW) and vol_zone in (Zone.GREEN, Zone.YELLOW),
        new_positions_allowed=risk_zone is not Zone.RED and vol_zone in (Zone.GREEN, Zone.YELLOW),
        peel_off_pressure=vol_zone is Zone.RED,
    )


def layer_open_risk(layer: Layer) -> float:
    """What the layer loses if its stop is hit: max(0, entry − stop) × lots × pv."""
    return max(0.0, layer.entry_price - layer.stop) * layer.lots * layer.point_value


def layer_volatility(layer: Layer, atr: float) -> float:
    """The layer's volatility in ₹: latest ATR × lots × pv."""
    return atr * layer.lots * layer.point_value


def layer_margin(layer: Layer, margin_per_lot: float) -> float:
    """The margin the layer holds: lots × margin per lot."""
    return layer.lots * margin_per_lot


def open_risk(layers: Iterable[Layer]) -> float:
    """Σ open risk of the layers, in ₹."""
    return sum((layer_open_risk(x) for x in layers), 0.0)


def volatility(layers: Iterable[Layer], atr: Mapping[str, float]) -> float:
    """Σ volatility of the layers in ₹, each at its instrument's latest ATR.

    A layer whose instrument has no ATR yet is a bug upstream (the entry signal carries one), so it is an
    error rather than a silent zero.
    """
    total = 0.0
    for layer in layers:
        try:
            total += layer_volatility(layer, atr[layer.instrument])
        except KeyError:
            raise ValueError(f"no ATR known for {layer.instrument}, which has an open layer") from None
    return total


def margin_used(layers: Iterable[Layer], instruments: Mapping[str, Instrument]) -> float:
    """Σ lots × margin per lot of the open layers."""
    return sum((layer_margin(x, instruments[x.instrument].margin_per_lot) for x in layers), 0.0)


def pct_of_equity(amount: float, equity: float) -> float:
    """`amount` as a percentage of `equity`; with no equity any exposure is infinitely large."""
    if equity <= 0:
        return 0.0 if amount <= 0 else math.inf
    return amount / equity * 100.0


@value_class
class PortfolioMeasures:
    """The portfolio's open risk, volatility and margin in ₹ and as % of equity, with their zones."""

    equity: float
    open_risk: float
    volatility: float
    margin_used: float
    risk_pct: float
    vol_pct: float
    margin_utilisation_pct: float
    risk_zone: Zone
    vol_zone: Zone
    margin_warning: bool
    permissions: ZonePermissions


def measure_portfolio(snapshot: PortfolioSnapshot, rules: PortfolioRules) -> PortfolioMeasures:
    """Risk, volatility, margin utilisation and zones of `snapshot` under `rules`."""
    risk = open_risk(snapshot.layers)
    vol = volatility(snapshot.layers, snapshot.atr)
    risk_pct = pct_of_equity(risk, snapshot.equity)
    vol_pct = pct_of_equity(vol, snapshot.equity)
    utilisation = pct_of_equity(snapshot.margin_used, snapshot.equity)
    risk_zone = zone_for(risk_pct, rules.risk_zones)
    vol_zone = zone_for(vol_pct, rules.vol_zones)
    return PortfolioMeasures(
        equity=snapshot.equity,
        open_risk=risk,
        volatility=vol,
        margin_used=snapshot.margin_used,
        risk_pct=risk_pct,
        vol_pct=vol_pct,
        margin_utilisation_pct=utilisation,
        risk_zone=risk_zone,
        vol_zone=vol_zone,
        margin_warning=at_least(utilisation, rules.margin_warning_pct),
        permissions=zone_permissions(risk_zone, vol_zone, size_factor=rules.zone_size_factor),
    )


def snapshot_margin(snapshot: PortfolioSnapshot, config: Config) -> PortfolioSnapshot:
    """`snapshot` with `margin_used` recomputed from its layers (positions are the truth)."""
    return replace(snapshot, margin_used=margin_used(snapshot.layers, config.instruments))
