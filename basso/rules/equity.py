"""Equity in every mode, unrealised P&L, drawdown and the drawdown rules (docs/rules.md §2).

Closed equity is the ledger's sum (`basso.rules.money.closed_equity`); here it arrives as a float because
sizing is float arithmetic. The drawdown rules only ever restrict *new* exposure: exits, stops,
peel-offs and rolls are never blocked, and `DrawdownRules` says so in its API so no caller has to guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from basso.config import DrawdownRules, EquityMode
from basso.enums import AlertLevel
from basso.rules.alert import Alert
from basso.rules.layers import Layer
from basso.rules.portfolio import above, at_least
from basso.rules.values import value_class

__all__ = [
    "DrawdownAllowance",
    "EquityView",
    "drawdown",
    "drawdown_allowance",
    "drawdown_band",
    "drawdown_band_alert",
    "drawdown_band_name",
    "equity_in_mode",
    "equity_view",
    "layer_unrealised_pnl",
    "peak_after_capital",
    "unrealised_pnl",
]


def layer_unrealised_pnl(layer: Layer, mark: float) -> float:
    """(mark − entry) × lots × pv of one layer."""
    return (mark - layer.entry_price) * layer.lots * layer.point_value


def unrealised_pnl(layers: Iterable[Layer], marks: Mapping[str, float]) -> float:
    """Σ unrealised P&L of `layers`, each marked at its instrument's price in `marks`."""
    total = 0.0
    for layer in layers:
        try:
            total += layer_unrealised_pnl(layer, marks[layer.instrument])
        except KeyError:
            raise ValueError(f"no mark price known for {layer.instrument}, which has an open layer") from None
    return total


@value_class
class EquityView:
    """Equity in every mode at one moment (docs/rules.md §2)."""

    closed: float
    unrealised: float
    open: float
    blended: float
    high_water: float

    def in_mode(self, mode: EquityMode) -> float:
        """The equity of `mode` (closed | open | blended | high_water)."""
        value: float = getattr(self, mode)
        return value


def equity_in_mode(
    mode: EquityMode, *, closed: float, unrealised: float, high_water: float, blended_weight: float
) -> float:
    """The equity of `mode` (closed | open | blended | high_water): what every sizing decision reads.

    `high_water` is the highest *closed* equity ever; a stale value below today's closed equity is lifted to it.
    """
    if mode == "blended":
        return closed + blended_weight * unrealised
    if mode == "open":
        return closed + unrealised
    if mode == "high_water":
        return high_water if high_water > closed else closed
    return closed


def equity_view(*, closed: float, unrealised: float, high_water: float, blended_weight: float) -> EquityView:
    """Equity in every mode from the ledger sum, the open P&L and the highest closed equity reached.

    `high_water` is the highest *closed* equity ever; it can only be at least today's closed equity, so
    a stale value passed in is lifted to it.
    """
    figures = {"closed": closed, "unrealised": unrealised, "high_water": high_water, "blended_weight": blended_weight}
    return EquityView(
        closed=closed,
        unrealised=unrealised,
        open=equity_in_mode("open", **figures),
        blended=equity_in_mode("blended", **figures),
        high_water=equity_in_mode("high_water", **figures),
    )


def drawdown(equity: float, peak: float) -> float:
    """Drawdown as a fraction: 1 − equity ÷ peak, written (peak − equity) ÷ peak so 90 of 100 is exactly 0.1.

    Zero when equity is at or above the peak, or when there is no positive peak to fall from.
    """
    if peak <= 0:
        return 0.0
    return max(0.0, (peak - equity) / peak)


@value_class
class DrawdownAllowance:
    """What the drawdown rules allow at a drawdown: a risk-% multiplier and which new entries may open.

    Exits, stops, peel-offs and rolls are never blocked by a drawdown: those flags are always True and
    typed as such, so code that asks gets the same answer the rules promise.
    """

    drawdown_pct: float
    risk_multiplier: float
    base_entries_allowed: bool
    pyramids_allowed: bool
    exits_allowed: Literal[True] = True
    stops_allowed: Literal[True] = True
    peel_offs_allowed: Literal[True] = True
    rolls_allowed: Literal[True] = True

    @property
    def reason(self) -> str:
        """One line for the decision record."""
        if not self.pyramids_allowed:
            return f"drawdown {self.drawdown_pct:.2f}%: no new entries or pyramids"
        if not self.base_entries_allowed:
            return f"drawdown {self.drawdown_pct:.2f}%: risk × {self.risk_multiplier:g}, no new base entries"
        if self.risk_multiplier != 1.0:
            return f"drawdown {self.drawdown_pct:.2f}%: risk × {self.risk_multiplier:g}"
        return f"drawdown {self.drawdown_pct:.2f}%: no restriction"


def drawdown_allowance(drawdown_pct: float, rules: DrawdownRules) -> DrawdownAllowance:
    """The drawdown rules at `drawdown_pct` (percent of peak).

    From `reduce_from_pct`: initial risk × `reduce_factor`; from `halve_from_pct`: × `halve_factor` and no
    new base entries; above `halt_from_pct`: no new entries or pyramids (at exactly it, pyramids may still
    be added).
    """
    multiplier = 1.0
    if at_least(drawdown_pct, rules.halve_from_pct):
        multiplier = rules.halve_factor
    elif at_least(drawdown_pct, rules.reduce_from_pct):
        multiplier = rules.reduce_factor
    halted = above(drawdown_pct, rules.halt_from_pct)
    return DrawdownAllowance(
        drawdown_pct=drawdown_pct,
        risk_multiplier=multiplier,
        base_entries_allowed=not at_least(drawdown_pct, rules.halve_from_pct),
        pyramids_allowed=not halted,
    )


def drawdown_band(drawdown_pct: float, rules: DrawdownRules) -> int:
    """Which drawdown band `drawdown_pct` is in: 0 below `reduce_from_pct`, 1 from it (risk reduced), 2 from
    `halve_from_pct` (risk halved, no base entries), 3 above `halt_from_pct` (no new entries or pyramids),
    on the same boundaries `drawdown_allowance` applies."""
    if above(drawdown_pct, rules.halt_from_pct):
        return 3
    if at_least(drawdown_pct, rules.halve_from_pct):
        return 2
    return 1 if at_least(drawdown_pct, rules.reduce_from_pct) else 0


def drawdown_band_name(band: int, rules: DrawdownRules) -> str:
    """The band in the trader's words: "below 5%", "5–10%", "10–15%", "above 15%"."""
    bounds = (rules.reduce_from_pct, rules.halve_from_pct, rules.halt_from_pct)
    if band == 0:
        return f"below {bounds[0]:g}%"
    if band == 3:
        return f"above {bounds[2]:g}%"
    return f"{bounds[band - 1]:g}–{bounds[band]:g}%"


def drawdown_band_alert(*, before: float, after: float, peak: float, rules: DrawdownRules) -> Alert | None:
    """The alert for a drawdown band entered or left between two drawdowns (docs/rules.md §2), or None if the band is
    the same. Deeper is a warning (critical once entries halt); shallower is news."""
    was, now = drawdown_band(before, rules), drawdown_band(after, rules)
    if was == now:
        return None
    level = AlertLevel.INFO if now < was else AlertLevel.CRITICAL if now == 3 else AlertLevel.WARNING
    allowance = drawdown_allowance(after, rules)
    message = (
        f"drawdown band {drawdown_band_name(was, rules)} → {drawdown_band_name(now, rules)}: "
        f"{allowance.reason} (peak ₹{peak:,.2f})"
    )
    return Alert(
        level=level,
        kind="drawdown_band",
        message=message,
        detail={"from_band": was, "to_band": now, "drawdown_pct": round(after, 4), "peak": round(peak, 2)},
    )


def peak_after_capital(*, amount: float, equity: float) -> tuple[float, float]:
    """How a capital flow of `amount` (+ deposit, − withdrawal) moves the drawdown peak, as (factor, add): the
    new peak is peak × factor + add (docs/rules.md §2). A deposit of D adds D to equity and peak alike, so it never
    fakes a recovery; a withdrawal of W scales the peak by (equity − W) ÷ equity, keeping the drawdown as it
    was, so it never fakes a drawdown. With no positive equity left there is no peak to keep."""
    if amount >= 0:
        return 1.0, amount
    if equity <= 0:
        return 0.0, 0.0
    return max(0.0, (equity + amount) / equity), 0.0
