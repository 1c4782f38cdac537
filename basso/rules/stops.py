"""Stops, peel-off and emergency exits (docs/rules.md §6).

Every layer carries its own ATR trailing stop. `trail` is the bare float rule the backtest calls for every
bar of every layer (it must run at hundreds of thousands of bars a second, so it takes and returns plain
floats); `trail_layer` wraps it for code that holds `Layer` values.
"""

from __future__ import annotations

from dataclasses import replace

from basso.config import Instrument, PortfolioRules
from basso.rules.equity import layer_unrealised_pnl
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.portfolio import PCT_TOLERANCE, at_least, layer_open_risk, open_risk, pct_of_equity
from basso.rules.sizing import lots_to_cover
from basso.rules.values import value_class

__all__ = [
    "EmergencyPlan",
    "PeelOff",
    "TrailedLayer",
    "emergency_due",
    "emergency_exits",
    "initial_stop",
    "limit_fraction",
    "over_limit",
    "peel_off",
    "peel_off_due",
    "peel_off_lots",
    "stop_hit",
    "trail",
    "trail_layer",
]


def initial_stop(price: float, atr: float, multiple: float) -> float:
    """price − multiple × ATR: a layer's stop before any bar has trailed it."""
    return price - multiple * atr


def trail(stop: float, highest_close: float, close: float, atr: float, multiple: float) -> tuple[float, float, bool]:
    """One bar close for one layer: (new stop, new highest close, exit?).

    highest = max(highest, close); stop = max(stop, highest − multiple × ATR), so it only rises; the layer
    exits when the close is strictly below the stop, checked after this bar's ratchet, in the order of docs/rules.md §6.
    """
    highest = close if close > highest_close else highest_close
    trailing = highest - multiple * atr
    new_stop = trailing if trailing > stop else stop
    return new_stop, highest, close < new_stop


def stop_hit(close: float, stop: float) -> bool:
    """A close strictly below the stop exits the layer; a close at the stop does not."""
    return close < stop


@value_class
class TrailedLayer:
    """A layer after one bar: its new stop and highest close, and whether the bar's close exits it."""

    layer: Layer
    exit: bool


def trail_layer(layer: Layer, *, close: float, atr: float, instrument: Instrument) -> TrailedLayer:
    """`trail` applied to a `Layer` with its instrument's trailing multiple."""
    stop, highest, exits = trail(layer.stop, layer.highest_close, close, atr, instrument.trailing_stop_atr)
    if stop == layer.stop and highest == layer.highest_close:
        return TrailedLayer(layer=layer, exit=exits)
    return TrailedLayer(layer=replace(layer, stop=stop, highest_close=highest), exit=exits)


# The thresholds of peel-off and the emergency, in one place: the live rules below and the backtest's fast path
# (basso.backtest.sized, which asks them with a small `margin_pct` so that it can only err towards handing a bar
# to the live rules) read them from here.


def limit_fraction(limit_pct: float, margin_pct: float = 0.0) -> float:
    """The share of equity above which an amount is over `limit_pct` percent, less `margin_pct`, forgiving
    float error of `PCT_TOLERANCE` as `above` does: the one definition of the peel-off and emergency limits.
    The backtest's fast path computes it once per run and compares `amount > fraction × equity` bar by bar."""
    return (limit_pct - margin_pct + PCT_TOLERANCE) / 100.0


def over_limit(amount: float, equity: float, limit_pct: float, margin_pct: float = 0.0) -> bool:
    """`amount` (₹) is more than `limit_pct` − `margin_pct` percent of `equity`; with no equity, any amount is."""
    if equity <= 0:
        return amount > 0
    return amount > limit_fraction(limit_pct, margin_pct) * equity


def peel_off_due(
    *, risk: float, vol: float, equity: float, ongoing_risk_pct: float, ongoing_vol_pct: float, margin_pct: float = 0.0
) -> bool:
    """Whether a layer whose open risk is `risk` and volatility `vol` (₹) must be peeled off: either above its
    ongoing limit (docs/rules.md §6)."""
    return over_limit(risk, equity, ongoing_risk_pct, margin_pct) or over_limit(
        vol, equity, ongoing_vol_pct, margin_pct
    )


def emergency_due(*, risk: float, equity: float, rules: PortfolioRules, margin_pct: float = 0.0) -> bool:
    """Whether portfolio open risk `risk` (₹) is above the emergency limit (docs/rules.md §6)."""
    return over_limit(risk, equity, rules.emergency_risk_pct, margin_pct)


def peel_off_lots(
    *,
    lots: int,
    risk_per_lot: float,
    vol_per_lot: float,
    equity: float,
    ongoing_risk_pct: float,
    ongoing_vol_pct: float,
) -> int:
    """Lots to shed so the layer's risk and volatility fit their ongoing limits (0 if they already fit).

    If risk % > ongoing risk %: peel_R = ceil(excess risk ÷ risk per lot); likewise peel_V for volatility;
    peel = max(peel_R, peel_V), capped at the layer's lots.
    """
    risk, vol = risk_per_lot * lots, vol_per_lot * lots
    peel_r = peel_v = 0
    if risk_per_lot > 0 and over_limit(risk, equity, ongoing_risk_pct):
        peel_r = lots_to_cover((risk - equity * ongoing_risk_pct / 100.0) / risk_per_lot)
    if vol_per_lot > 0 and over_limit(vol, equity, ongoing_vol_pct):
        peel_v = lots_to_cover((vol - equity * ongoing_vol_pct / 100.0) / vol_per_lot)
    return min(lots, max(peel_r, peel_v))


@value_class
class PeelOff:
    """A peel-off decision for one layer: how many lots to shed and why."""

    layer: Layer
    lots: int
    risk_pct: float
    vol_pct: float
    reason: str


def peel_off(layer: Layer, *, atr: float, equity: float, instrument: Instrument) -> PeelOff:
    """The peel-off check for one layer on a bar (docs/rules.md §6), with its instrument's ongoing limits."""
    risk_per_lot = max(0.0, layer.entry_price - layer.stop) * layer.point_value
    vol_per_lot = atr * layer.point_value
    lots = peel_off_lots(
        lots=layer.lots,
        risk_per_lot=risk_per_lot,
        vol_per_lot=vol_per_lot,
        equity=equity,
        ongoing_risk_pct=instrument.ongoing_risk_pct,
        ongoing_vol_pct=instrument.ongoing_vol_pct,
    )
    risk_pct = pct_of_equity(risk_per_lot * layer.lots, equity)
    vol_pct = pct_of_equity(vol_per_lot * layer.lots, equity)
    figures = (
        f"risk {risk_pct:.2f}% (limit {instrument.ongoing_risk_pct:g}%), "
        f"vol {vol_pct:.2f}% (limit {instrument.ongoing_vol_pct:g}%)"
    )
    reason = f"peel {lots} of {layer.lots} lots: {figures}" if lots else f"within limits: {figures}"
    return PeelOff(layer=layer, lots=lots, risk_pct=risk_pct, vol_pct=vol_pct, reason=reason)


@value_class
class EmergencyPlan:
    """The emergency exits (docs/rules.md §6): layers to close, in order, and portfolio risk before and after."""

    triggered: bool
    exits: tuple[Layer, ...]
    risk_pct_before: float
    risk_pct_after: float
    target_reached: bool  # False when the profitable layers ran out before risk got under the target


def emergency_exits(
    snapshot: PortfolioSnapshot, rules: PortfolioRules, *, instrument: str | None = None
) -> EmergencyPlan:
    """Above `emergency_risk_pct`, close the smallest profitable layer, again and again, until portfolio
    risk is under `emergency_target_risk_pct`.

    "Smallest" is the least unrealised profit (the cheapest winner to give up), then fewest lots. On a bar
    the candidates are that bar's `instrument`'s layers (docs/rules.md §6): they close at its fresh price, never at
    another instrument's stale mark. Only layers that still carry risk (stop below entry) are candidates:
    closing a layer whose stop is above its entry frees no risk. If the candidates run out first, the plan
    closes them all and says it fell short. Equity is held at the snapshot's value: the plan is made in one
    go, before any fill moves it.
    """
    risk = open_risk(snapshot.layers)
    before = pct_of_equity(risk, snapshot.equity)
    if not emergency_due(risk=risk, equity=snapshot.equity, rules=rules):
        return EmergencyPlan(
            triggered=False, exits=(), risk_pct_before=before, risk_pct_after=before, target_reached=True
        )
    candidates = sorted(
        (
            x
            for x in snapshot.layers
            if (instrument is None or x.instrument == instrument)
            and layer_open_risk(x) > 0
            and layer_unrealised_pnl(x, snapshot.price[x.instrument]) > 0
        ),
        key=lambda x: (layer_unrealised_pnl(x, snapshot.price[x.instrument]), x.lots, x.instrument, x.layer),
    )
    exits: list[Layer] = []
    after = before
    for layer in candidates:
        if not at_least(after, rules.emergency_target_risk_pct):
            break
        exits.append(layer)
        risk -= layer_open_risk(layer)
        after = pct_of_equity(risk, snapshot.equity)
    return EmergencyPlan(
        triggered=True,
        exits=tuple(exits),
        risk_pct_before=before,
        risk_pct_after=after,
        target_reached=not at_least(after, rules.emergency_target_risk_pct),
    )
