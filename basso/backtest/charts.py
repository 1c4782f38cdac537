"""The backtest report's charts (matplotlib, Agg), drawn the way a trader reads them, and returned as PNG data.

Rupee axes read in lakh and crore (`₹25 L`, `₹3.5 Cr`), never `1e8`; dates on the x axis; the drawdown under
the equity curve on the same time axis, so a fall and its recovery line up. The equity chart comes in a linear
and a log version: over a decade of compounding a linear axis flattens the first years into a line, a log axis
shows every year's growth at the same slope.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from basso.backtest.replay import ReplayResult
from basso.backtest.stats import EquityPoint

__all__ = ["WIDTH_PX", "equity_chart", "exposure_chart", "figure_png", "rupee_axis", "rupee_label"]

WIDTH_PX = 1400  # charts are drawn this wide at 100 dpi and shown at the page's full width
_DPI = 100
_BLUE, _RED = "#1f5fa8", "#b83232"


def rupee_label(value: float) -> str:
    """A rupee amount for an axis: ₹3.5 Cr, ₹25 L, ₹50,000, ₹0, −₹10 L (at most 3 significant figures)."""
    sign = "−" if value < 0 else ""
    amount = abs(value)
    for size, unit in ((1e7, "Cr"), (1e5, "L")):
        if amount >= size:
            return f"{sign}₹{_short(amount / size)} {unit}"
    if amount == 0:
        return "₹0"
    whole = f"{amount:,.0f}"  # below a lakh the Indian and the Western grouping agree
    return f"{sign}₹{whole}"


def _short(number: float) -> str:
    text = f"{number:.3g}" if number < 1000 else f"{number:,.0f}"
    return text if "e" not in text else f"{number:,.0f}"


def rupee_axis(axes: Any, *, log: bool = False) -> None:
    """Label `axes`' y axis in lakh and crore (a log axis at 1, 2 and 5 of every decade)."""
    if log:
        axes.set_yscale("log")
        axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: rupee_label(value)))


def figure_png(figure: Figure) -> str:
    """The figure as base64 PNG data, for a data: URI (the report stands alone)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _dates(axes: Any) -> None:
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _naive(times: Sequence[datetime]) -> Any:
    # Charts show exchange wall-clock time; matplotlib would otherwise convert to UTC.
    # date2num has no annotations in matplotlib's stubs; it returns float day numbers.
    return date2num([t.replace(tzinfo=None) for t in times])  # type: ignore[no-untyped-call]


def equity_chart(result: ReplayResult, curve: Sequence[EquityPoint], *, log: bool) -> Figure:
    """Closed-trade equity (linear or log) with its drawdown from the running peak underneath."""
    figure = Figure(figsize=(WIDTH_PX / _DPI, 6.4), dpi=_DPI, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.2))
    if curve:
        start = min([t.entry_time for t in result.closed] + [o.entry_time for o in result.open])
        times = _naive([start, *(p.time for p in curve)])
        equity = [float(result.capital), *(float(p.equity) for p in curve)]
        top.step(times, equity, where="post", color=_BLUE, linewidth=1.3)
        top.axhline(float(result.capital), color="#888", linewidth=0.8, linestyle="--")
        bottom.fill_between(
            times, [0.0, *(-p.drawdown_pct for p in curve)], step="post", color=_RED, alpha=0.55, linewidth=0
        )
    top.set_title("Closed-trade equity" + (" (log scale)" if log else ""), loc="left", fontsize=12)
    rupee_axis(top, log=log)
    bottom.set_title("Drawdown from the peak", loc="left", fontsize=11)
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f} %"))
    for axes in (top, bottom):
        axes.grid(alpha=0.3)
        axes.margins(x=0.01)
        _dates(axes)
    return figure


def exposure_chart(result: ReplayResult) -> Figure:
    """Open notional (lots × M × entry price) per instrument over time."""
    figure = Figure(figsize=(WIDTH_PX / _DPI, 3.4), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    for name in result.instruments:
        times, notional = _exposure(result, name)
        if times:
            axes.step(_naive(times), notional, where="post", label=name, linewidth=1.1)
    if result.instruments:
        axes.legend(loc="upper left", frameon=False)
    axes.set_title("Open exposure by instrument (lots × point value × entry price)", loc="left", fontsize=12)
    rupee_axis(axes)
    axes.grid(alpha=0.3)
    axes.margins(x=0.01)
    _dates(axes)
    return figure


def _exposure(result: ReplayResult, instrument: str) -> tuple[list[datetime], list[float]]:
    events: list[tuple[datetime, int, float]] = []
    for t in result.closed:
        if t.instrument == instrument:
            value = t.lots * t.multiplier * t.entry_price
            events += [(t.entry_time, 1, value), (t.exit_time, 0, -value)]
    for o in result.open:
        if o.instrument == instrument:
            value = o.lots * o.multiplier * o.entry_price
            events += [(o.entry_time, 1, value), (o.mark_time, 0, -value)]
    events.sort(key=lambda e: (e[0], e[1]))
    held, times, levels = 0.0, [], []
    for time, _, change in events:
        held += change
        times.append(time)
        levels.append(max(held, 0.0))
    return times, levels
