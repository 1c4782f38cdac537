"""Pyramids: the six gates and the A/B/C/D size (docs/rules.md §5).

Every gate is evaluated and recorded with its reason, so a blocked pyramid names every gate it failed, not
only the first (with no open base there is nothing to measure the others against). The size comes before
the last gate because the portfolio gate is computed with the lots actually proposed (the earlier system
assumed a fixed 5 lots there), so that gate is reached only when gates 1–5 pass.
"""

from __future__ import annotations

from typing import Literal

from basso.config import Instrument, PortfolioRules, PyramidRules
from basso.display import rupees
from basso.rules.equity import unrealised_pnl
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.portfolio import Zone, at_least, open_risk, pct_of_equity, volatility, zone_for
from basso.rules.sizing import lot_m, whole_lots
from basso.rules.values import value_class

__all__ = [
    "GATE_WORDS",
    "LIMITER_WORDS",
    "Gate",
    "GateName",
    "PyramidDecision",
    "PyramidLimiter",
    "PyramidSize",
    "decide_pyramid",
    "size_pyramid",
]

GateName = Literal["base_open", "pyramid_count", "one_r", "atr_spacing", "profit", "portfolio"]
PyramidLimiter = Literal["margin", "discipline", "profit_budget", "headroom"]

# How a reason names the binding constraint (A, B, C, D) and a gate, in the trader's words.
LIMITER_WORDS: dict[PyramidLimiter, str] = {
    "margin": "margin-limited",
    "discipline": "discipline-limited",
    "profit_budget": "profit-budget-limited",
    "headroom": "headroom-limited",
}
GATE_WORDS: dict[GateName, str] = {
    "base_open": "open-base",
    "pyramid_count": "pyramid-count",
    "one_r": "1R",
    "atr_spacing": "ATR-spacing",
    "profit": "profit",
    "portfolio": "portfolio",
}


@value_class
class Gate:
    """One gate's verdict and the reason, in numbers."""

    name: GateName
    passed: bool
    reason: str


@value_class
class PyramidSize:
    """The A/B/C/D constraints and the lots: floor(min), then × the zone factor."""

    a_margin: float
    b_discipline: float
    c_profit_budget: float
    d_headroom: float
    size_factor: float
    lots: int
    limiter: PyramidLimiter


@value_class
class PyramidDecision:
    """Whether a pyramid is added, how many lots, and every gate that was checked (in order)."""

    instrument: str
    price: float
    stop: float
    lots: int
    gates: tuple[Gate, ...]
    size: PyramidSize | None
    reason: str

    @property
    def allowed(self) -> bool:
        """True when every gate passed and the size is at least one lot."""
        return self.lots > 0


def size_pyramid(
    *,
    snapshot: PortfolioSnapshot,
    instrument: Instrument,
    rules: PyramidRules,
    portfolio: PortfolioRules,
    price: float,
    stop: float,
    point_value: float,
) -> PyramidSize:
    """A/B/C/D for the next pyramid of `instrument` (docs/rules.md §5), with `snapshot` marked at `price`.

    A = (E × margin budget − margin used) ÷ margin per lot; B = base lots × ratio^k for the k-th pyramid;
    C = share × max(0, instrument open profit − base initial risk) ÷ ((price − stop) × pv);
    D = (pyramid risk cap × E − portfolio risk) ÷ ((price − stop) × pv). Halved in the yellow risk zone.
    """
    layers = snapshot.layers_of(instrument.name)
    base = layers[0]
    if not base.is_base:
        raise ValueError(f"{instrument.name} has no open base layer to pyramid on")
    if stop >= price:
        raise ValueError(f"stop {stop:g} must be below price {price:g}")
    risk_per_lot = (price - stop) * point_value
    k = len(layers)  # the base plus k − 1 pyramids are open: this is the k-th pyramid
    base_risk = (base.entry_price - base.initial_stop) * base.lots * base.point_value
    profit = unrealised_pnl(layers, {instrument.name: price})
    current_risk = open_risk(snapshot.layers)
    a = lot_m(
        equity=snapshot.equity,
        margin_budget_pct=portfolio.margin_budget_pct,
        margin_used=snapshot.margin_used,
        margin_per_lot=instrument.margin_per_lot,
    )
    b = base.lots * rules.discipline_ratio**k
    c = rules.profit_budget_share * max(0.0, profit - base_risk) / risk_per_lot
    d = max(0.0, (rules.max_risk_pct / 100.0 * snapshot.equity - current_risk) / risk_per_lot)
    constraints: dict[PyramidLimiter, float] = {"margin": a, "discipline": b, "profit_budget": c, "headroom": d}
    limiter = min(constraints, key=constraints.__getitem__)  # ties name the first in A, B, C, D order
    yellow = zone_for(pct_of_equity(current_risk, snapshot.equity), portfolio.risk_zones) is Zone.YELLOW
    factor = portfolio.zone_size_factor if yellow else 1.0
    lots = whole_lots(whole_lots(constraints[limiter]) * factor)
    return PyramidSize(
        a_margin=a, b_discipline=b, c_profit_budget=c, d_headroom=d, size_factor=factor, lots=lots, limiter=limiter
    )


def decide_pyramid(
    *,
    snapshot: PortfolioSnapshot,
    instrument: Instrument,
    rules: PyramidRules,
    portfolio: PortfolioRules,
    price: float,
    stop: float,
    atr: float,
    point_value: float | None = None,
    last_pyramid_price: float | None = None,
) -> PyramidDecision:
    """Run the six gates for a PYRAMID signal and size it (docs/rules.md §5).

    The signal's price and ATR are the instrument's newest observations, so the snapshot is marked with
    them first. `last_pyramid_price` defaults to the entry of the newest open layer (the base entry when
    no pyramid is open). `point_value` defaults to the instrument's current one.
    """
    pv = instrument.point_value if point_value is None else point_value
    snapshot = snapshot.with_market(instrument.name, price=price, atr=atr)
    gates: list[Gate] = []

    def decision(lots: int, size: PyramidSize | None, reason: str) -> PyramidDecision:
        return PyramidDecision(
            instrument=instrument.name, price=price, stop=stop, lots=lots, gates=tuple(gates), size=size, reason=reason
        )

    gates.extend(
        _instrument_gates(snapshot.layers_of(instrument.name), instrument, rules, price, atr, last_pyramid_price)
    )
    failed = [g.reason for g in gates if not g.passed]
    if failed:
        return decision(0, None, "; ".join(failed))
    size = size_pyramid(
        snapshot=snapshot,
        instrument=instrument,
        rules=rules,
        portfolio=portfolio,
        price=price,
        stop=stop,
        point_value=pv,
    )
    if size.lots == 0:
        return decision(0, size, f"0 lots, {LIMITER_WORDS[size.limiter]}")
    gates.append(_portfolio_gate(snapshot, rules, size.lots, (price - stop) * pv, atr * pv))
    if not gates[-1].passed:
        return decision(0, size, gates[-1].reason)
    halved = " (halved: yellow risk zone)" if size.size_factor != 1.0 else ""
    return decision(
        size.lots, size, f"{size.lots} lot{'s' if size.lots != 1 else ''}, {LIMITER_WORDS[size.limiter]}{halved}"
    )


def _instrument_gates(
    layers: tuple[Layer, ...],
    instrument: Instrument,
    rules: PyramidRules,
    price: float,
    atr: float,
    last_pyramid_price: float | None,
) -> list[Gate]:
    """Gates 1–5 in the order of docs/rules.md §5, every one evaluated (without a base layer, only the first
    can be)."""
    if not layers or not layers[0].is_base:
        return [Gate(name="base_open", passed=False, reason=f"no open base layer (Long_1) for {instrument.name}")]
    base = layers[0]
    gates = [Gate(name="base_open", passed=True, reason=f"base open: {base.lots} lots at {base.entry_price:g}")]
    pyramids = len(layers) - 1
    gates.append(
        Gate(
            name="pyramid_count",
            passed=pyramids < instrument.max_pyramids,
            reason=f"{pyramids} of {instrument.max_pyramids} pyramids open",
        )
    )
    one_r = base.entry_price - base.initial_stop
    gain = price - base.entry_price
    gates.append(
        Gate(
            name="one_r",
            passed=_clearly_above(gain, one_r),
            reason=f"price {_points(gain)} the base entry {base.entry_price:g}; it must be more than "
            f"1R = {one_r:g} points above",
        )
    )
    last = layers[-1].entry_price if last_pyramid_price is None else last_pyramid_price
    spacing = rules.atr_spacing * atr
    gates.append(
        Gate(
            name="atr_spacing",
            passed=not _clearly_above(spacing, price - last),
            reason=f"price {_points(price - last)} the last pyramid price {last:g}; it must be at least "
            f"{rules.atr_spacing:g} × ATR = {spacing:g} points above",
        )
    )
    profit = unrealised_pnl(layers, {instrument.name: price})
    gates.append(Gate(name="profit", passed=profit > 0, reason=f"{instrument.name} unrealised P&L {rupees(profit)}"))
    return gates


def _points(distance: float) -> str:
    """A price distance in words: "120 points above", "35 points below"."""
    return f"{distance:g} points above" if distance >= 0 else f"{-distance:g} points below"


def _clearly_above(a: float, b: float) -> bool:
    """a > b for price distances, where 52,500.1 − 52,000.05 may carry float error of a few ulps: a
    distance equal to the other but for that error is not above it."""
    return a > b + 1e-9 * max(1.0, abs(a), abs(b))


def _portfolio_gate(
    snapshot: PortfolioSnapshot, rules: PyramidRules, lots: int, risk_per_lot: float, vol_per_lot: float
) -> Gate:
    """Gate 6: projected portfolio risk < cap and volatility < cap with `lots` added."""
    risk_pct = pct_of_equity(open_risk(snapshot.layers) + lots * risk_per_lot, snapshot.equity)
    vol_pct = pct_of_equity(volatility(snapshot.layers, snapshot.atr) + lots * vol_per_lot, snapshot.equity)
    passed = not at_least(risk_pct, rules.max_risk_pct) and not at_least(vol_pct, rules.max_vol_pct)
    return Gate(
        name="portfolio",
        passed=passed,
        reason=f"with {lots} lots: risk {risk_pct:.2f}% (< {rules.max_risk_pct:g}%), "
        f"vol {vol_pct:.2f}% (< {rules.max_vol_pct:g}%)",
    )
