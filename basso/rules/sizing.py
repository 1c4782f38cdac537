"""Sizing a base entry: Lot-R, Lot-V, Lot-M and the portfolio gate (docs/rules.md §3).

The stop is chosen first and the size follows from it: the stop used here is the stop the new layer will
carry. Zero lots is a normal outcome with a reason, not an error. Drawdown and zone adjustments are
explicit inputs (`risk_multiplier`, `size_factor`), never looked up behind the caller's back.
"""

from __future__ import annotations

import math
from typing import Literal

from basso.config import Instrument, PortfolioRules
from basso.display import rupees
from basso.rules.values import value_class

__all__ = [
    "LOTS_EPSILON",
    "Limiter",
    "SizingDecision",
    "entry_stop",
    "lot_m",
    "lot_r",
    "lot_v",
    "lots_to_cover",
    "lots_within",
    "size_base_entry",
    "whole_lots",
]

# Lot counts are computed in float: 0.3 ÷ 0.1 is 2.9999999999999996, and a plain floor would lose a lot
# the trader's arithmetic says is there. The worst error comes from price − stop, where a one-tick distance
# at a price of 1,00,000 carries a relative error of about 2e-10; the few multiplications and divisions add
# a few ulps. So a count within a relative 1e-9 below an integer *is* that integer; a real shortfall is a
# visible fraction of a lot and still floors down.
LOTS_EPSILON = 1e-9

Limiter = Literal["risk", "volatility", "margin", "portfolio_risk", "portfolio_vol"]

_LIMITER_WORDS: dict[Limiter, str] = {
    "risk": "risk-limited",
    "volatility": "volatility-limited",
    "margin": "margin-limited",
    "portfolio_risk": "portfolio risk cap",
    "portfolio_vol": "portfolio volatility cap",
}


def whole_lots(lots: float) -> int:
    """floor(lots), forgiving a relative float error of `LOTS_EPSILON`; never below 0."""
    if math.isnan(lots) or lots <= 0:
        return 0
    if math.isinf(lots):
        raise ValueError("an unbounded lot count: a divisor was zero")
    return math.floor(lots + LOTS_EPSILON * max(1.0, lots))


def lots_to_cover(lots: float) -> int:
    """ceil(lots), forgiving float error of `LOTS_EPSILON` (5.0000000001 lots to shed is 5); never below 0."""
    if math.isnan(lots) or lots <= 0:
        return 0
    return max(0, math.ceil(lots - LOTS_EPSILON * max(1.0, lots)))


def lot_r(*, equity: float, risk_pct: float, price: float, stop: float, point_value: float, er: float = 1.0) -> float:
    """Lot-R = E × risk% ÷ ((price − stop) × pv) × ER (pass er=1 when ER scaling is off)."""
    if stop >= price:
        raise ValueError(f"stop {stop:g} must be below price {price:g} for a long entry")
    return equity * risk_pct / 100.0 / ((price - stop) * point_value) * er


def lot_v(*, equity: float, vol_pct: float, atr: float, point_value: float) -> float:
    """Lot-V = E × vol% ÷ (ATR × pv)."""
    if atr <= 0:
        raise ValueError(f"ATR must be greater than 0, got {atr:g}")
    return equity * vol_pct / 100.0 / (atr * point_value)


def lot_m(*, equity: float, margin_budget_pct: float, margin_used: float, margin_per_lot: float) -> float:
    """Lot-M = (E × margin budget % − margin used) ÷ margin per lot, never below 0."""
    return max(0.0, (equity * margin_budget_pct / 100.0 - margin_used) / margin_per_lot)


def lots_within(*, cap_pct: float, equity: float, current: float, per_lot: float) -> int:
    """The most lots that keep current + lots × per_lot at or under cap_pct of equity (≥ 0)."""
    if per_lot <= 0:
        raise ValueError(f"per-lot exposure must be greater than 0, got {per_lot:g}")
    return whole_lots((cap_pct / 100.0 * equity - current) / per_lot)


def entry_stop(
    *, price: float, signal_stop: float | None, atr: float, instrument: Instrument, rules: PortfolioRules
) -> float:
    """The initial stop of a base entry: the signal's, or price − initial multiple × ATR (`stop_source`)."""
    if rules.stop_source == "atr":
        return price - instrument.initial_stop_atr * atr
    if signal_stop is None:
        raise ValueError("stop_source is 'signal' but the signal has no stop")
    return signal_stop


@value_class
class SizingDecision:
    """A base entry's size and why: the three constraints, the lots, the binding limiter and the stop.

    `lots_before_gate` is floor(min(R, V, M)) × size factor, before the portfolio gate reduced it.
    """

    instrument: str
    equity: float
    price: float
    stop: float
    atr: float
    lot_r: float
    lot_v: float
    lot_m: float
    lots_before_gate: int
    lots: int
    limiter: Limiter
    reason: str

    @property
    def blocked(self) -> bool:
        """True when the decision is 0 lots."""
        return self.lots == 0


def size_base_entry(
    *,
    instrument: Instrument,
    rules: PortfolioRules,
    equity: float,
    price: float,
    signal_stop: float | None,
    atr: float,
    er: float = 1.0,
    margin_used: float = 0.0,
    open_risk: float = 0.0,
    open_volatility: float = 0.0,
    point_value: float | None = None,
    risk_multiplier: float = 1.0,
    size_factor: float = 1.0,
) -> SizingDecision:
    """Size a base entry (docs/rules.md §3), then pass it through the portfolio gate.

    `open_risk`, `open_volatility` and `margin_used` are the portfolio's current figures in ₹ (see
    `basso.rules.portfolio`). `point_value` defaults to the instrument's current one; pass
    `instrument.point_value_on(day)` for a historical signal. `risk_multiplier` scales the initial risk %
    (the drawdown rules); `size_factor` scales the lots (the yellow volatility zone halves new sizes; 0
    blocks). Ties between constraints name the first of risk, volatility, margin.
    """
    pv = instrument.point_value if point_value is None else point_value
    stop = entry_stop(price=price, signal_stop=signal_stop, atr=atr, instrument=instrument, rules=rules)
    if equity <= 0:
        # A blown account (a long backtest can get there) sizes nothing; that is a decision, not a crash.
        return SizingDecision(
            instrument=instrument.name,
            equity=equity,
            price=price,
            stop=stop,
            atr=atr,
            lot_r=0.0,
            lot_v=0.0,
            lot_m=0.0,
            lots_before_gate=0,
            lots=0,
            limiter="margin",
            reason=f"0 lots, no equity to size from ({rupees(equity)})",
        )
    r = lot_r(
        equity=equity,
        risk_pct=instrument.initial_risk_pct * risk_multiplier,
        price=price,
        stop=stop,
        point_value=pv,
        er=er if rules.er_scaling else 1.0,
    )
    v = lot_v(equity=equity, vol_pct=instrument.initial_vol_pct, atr=atr, point_value=pv)
    m = lot_m(
        equity=equity,
        margin_budget_pct=rules.margin_budget_pct,
        margin_used=margin_used,
        margin_per_lot=instrument.margin_per_lot,
    )
    limiter: Limiter = "risk" if r <= v and r <= m else ("volatility" if v <= m else "margin")
    before_gate = whole_lots(whole_lots(min(r, v, m)) * size_factor)
    lots = before_gate
    by_risk = lots_within(cap_pct=rules.max_risk_pct, equity=equity, current=open_risk, per_lot=(price - stop) * pv)
    by_vol = lots_within(cap_pct=rules.max_vol_pct, equity=equity, current=open_volatility, per_lot=atr * pv)
    if by_risk < lots and by_risk <= by_vol:
        lots, limiter = by_risk, "portfolio_risk"
    elif by_vol < lots:
        lots, limiter = by_vol, "portfolio_vol"
    return SizingDecision(
        instrument=instrument.name,
        equity=equity,
        price=price,
        stop=stop,
        atr=atr,
        lot_r=r,
        lot_v=v,
        lot_m=m,
        lots_before_gate=before_gate,
        lots=lots,
        limiter=limiter,
        reason=_reason(lots, before_gate, limiter, risk_multiplier, size_factor),
    )


def _reason(lots: int, before_gate: int, limiter: Limiter, risk_multiplier: float, size_factor: float) -> str:
    words = _LIMITER_WORDS[limiter]
    notes = [f"risk × {risk_multiplier:g}"] if risk_multiplier != 1.0 else []
    if size_factor != 1.0:
        notes.append(f"size × {size_factor:g}")
    if lots != before_gate:
        notes.append(f"reduced from {before_gate} by the {words}")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if lots == 0:
        return f"0 lots, {words}{suffix}"
    return f"{lots} lot{'s' if lots != 1 else ''}, {words}{suffix}"
