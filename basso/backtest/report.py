"""What a backtest shows: the summary object, the terminal table, and the files `--out DIR` writes.

`summary` is the one JSON-able object every output is made from (`--json` prints it, `summary.json` stores it,
the terminal table and the HTML report display it), so the figures cannot disagree between outputs. Money is
rounded to paise from the Decimal totals; percentages and ratios to 4 decimals.

The HTML report stands alone: its charts (matplotlib, Agg) are PNGs embedded as data URIs.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from matplotlib.dates import date2num
from matplotlib.figure import Figure
from rich.table import Table

from basso.backtest.replay import ReplayResult
from basso.backtest.stats import EquityPoint, TradeStats, equity_curve, per_instrument_stats, portfolio_stats
from basso.display import rupees

__all__ = ["FIGURES", "indian_rupees", "stats_table", "summary", "write_outputs"]

# The figures of a summary, in display order: key, label, kind (money | pct | ratio | count | years | time).
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("net_pnl", "Net P&L", "money"),
    ("final_equity", "Final equity (closed)", "money"),
    ("cagr_pct", "CAGR", "pct"),
    ("max_drawdown_pct", "Max drawdown (closed equity)", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("win_rate_pct", "Win rate", "pct"),
    ("trades_closed", "Trades closed", "count"),
    ("trades_open", "Trades open", "count"),
    ("winners", "Winners", "count"),
    ("losers", "Losers", "count"),
    ("average_win", "Average win", "money"),
    ("average_loss", "Average loss", "money"),
    ("largest_win", "Largest win", "money"),
    ("largest_loss", "Largest loss", "money"),
    ("gross_profit", "Gross profit", "money"),
    ("gross_loss", "Gross loss", "money"),
    ("commission", "Commission", "money"),
    ("unrealised_pnl", "Unrealised P&L (open)", "money"),
    ("max_lots", "Max lots (one trade)", "count"),
    ("max_open_lots", "Max lots held at once", "count"),
    ("time_in_market_pct", "Time in market", "pct"),
    ("years", "Years", "years"),
    ("start", "First entry", "time"),
    ("end", "Last exit or mark", "time"),
)


def summary(result: ReplayResult) -> dict[str, Any]:
    """The JSON-able figures of `result`: the portfolio's, and the same per instrument under `per_instrument`."""
    whole = _figures(portfolio_stats(result))
    whole["sizing"] = result.sizing
    whole["capital"] = _money(result.capital)
    whole["instruments"] = list(result.instruments)
    whole["per_instrument"] = {name: _figures(stats) for name, stats in per_instrument_stats(result).items()}
    whole["notes"] = list(result.notes)
    return whole


def _figures(stats: TradeStats) -> dict[str, Any]:
    return {
        "trades_closed": stats.trades_closed,
        "trades_open": stats.trades_open,
        "winners": stats.winners,
        "losers": stats.losers,
        "win_rate_pct": round(stats.win_rate_pct, 4),
        "profit_factor": None if stats.profit_factor is None else round(stats.profit_factor, 4),
        "net_pnl": _money(stats.net_pnl),
        "final_equity": _money(stats.final_equity),
        "max_drawdown_pct": round(stats.max_drawdown_pct, 4),
        "max_lots": stats.max_lots,
        "max_open_lots": stats.max_open_lots,
        "cagr_pct": round(stats.cagr_pct, 4),
        "gross_profit": _money(stats.gross_profit),
        "gross_loss": _money(stats.gross_loss),
        "average_win": _money(stats.average_win),
        "average_loss": _money(stats.average_loss),
        "largest_win": _money(stats.largest_win),
        "largest_loss": _money(stats.largest_loss),
        "commission": _money(stats.commission),
        "unrealised_pnl": _money(stats.unrealised),
        "time_in_market_pct": round(stats.time_in_market_pct, 4),
        "years": round(stats.years, 4),
        "start": stats.start.isoformat() if stats.start else None,
        "end": stats.end.isoformat() if stats.end else None,
    }


def _money(amount: Decimal) -> float:
    # Totals are summed in Decimal paise; only the final figure becomes a float, so nothing drifts.
    return float(amount.quantize(Decimal("0.01")))


# --- display ---------------------------------------------------------------------------------------------------


def indian_rupees(amount: float) -> str:
    """`amount` grouped the Indian way with a rupee sign: ₹3,06,03,208.39, −₹52,963.75 (the CLI's one format)."""
    return rupees(amount)


def _display(value: Any, kind: str) -> str:
    if value is None:
        return "∞" if kind == "ratio" else "—"
    if kind == "money":
        return indian_rupees(value)
    if kind == "pct":
        return f"{value:.2f} %"
    if kind == "ratio":
        return f"{value:.3f}"
    if kind == "years":
        return f"{value:.2f}"
    if kind == "time":
        return str(value)[:16].replace("T", " ")
    return str(value)


def stats_table(figures: Mapping[str, Any]) -> Table:
    """A rich table of `figures` (a `summary`): the portfolio, then one column per instrument."""
    per = figures["per_instrument"]
    table = Table(title=f"Backtest ({figures['sizing']} sizing), capital {indian_rupees(figures['capital'])}")
    table.add_column("Figure")
    table.add_column("Portfolio", justify="right")
    for name in per:
        table.add_column(name, justify="right")
    for key, label, kind in FIGURES:
        table.add_row(label, _display(figures[key], kind), *(_display(per[name][key], kind) for name in per))
    return table


# --- files ------------------------------------------------------------------------------------------------------


def write_outputs(out_dir: Path, result: ReplayResult, figures: Mapping[str, Any]) -> list[Path]:
    """Write report.html, trades.csv, equity.csv and summary.json into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    curve = equity_curve(result.closed, result.capital)
    paths = [out_dir / "summary.json", out_dir / "trades.csv", out_dir / "equity.csv", out_dir / "report.html"]
    paths[0].write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    _write_trades(paths[1], result)
    _write_equity(paths[2], result, curve)
    paths[3].write_text(_html(result, figures, curve), encoding="utf-8")
    return paths


def _write_trades(path: Path, result: ReplayResult) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["status", "instrument", "trade", "position", "lots", "entry_time", "entry_price",
                         "exit_time", "exit_price", "multiplier", "commission", "pnl", "reason"])
        for t in result.closed:
            writer.writerow(["closed", t.instrument, t.trade or "", f"Long_{t.layer}", t.lots, t.entry_time.isoformat(),
                             t.entry_price, t.exit_time.isoformat(), t.exit_price, t.multiplier, t.commission, t.pnl,
                             t.reason])
        for o in result.open:
            writer.writerow(["open", o.instrument, o.trade or "", f"Long_{o.layer}", o.lots, o.entry_time.isoformat(),
                             o.entry_price, o.mark_time.isoformat(), o.mark_price, o.multiplier, "", o.unrealised,
                             "open at the last mark"])


def _write_equity(path: Path, result: ReplayResult, curve: Sequence[EquityPoint]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "closed_equity", "drawdown_pct"])
        for point in curve:
            writer.writerow([point.time.isoformat(), point.equity, f"{point.drawdown_pct:.4f}"])


# --- HTML -------------------------------------------------------------------------------------------------------


def _html(result: ReplayResult, figures: Mapping[str, Any], curve: Sequence[EquityPoint]) -> str:
    charts = [
        ("equity", "Closed-trade equity", _png(_equity_chart(result, curve))),
        ("drawdown", "Drawdown from peak", _png(_drawdown_chart(curve))),
        ("exposure", "Exposure by instrument (open notional)", _png(_exposure_chart(result))),
    ]
    images = "\n".join(
        f'<figure><img id="chart-{name}" alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for name, title, data in charts
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in figures["notes"])
    return _PAGE.format(
        title=html.escape(f"Basso backtest: {', '.join(result.instruments)}"),
        sizing=html.escape(result.sizing),
        capital=html.escape(indian_rupees(figures["capital"])),
        table=_html_table(figures),
        images=images,
        notes=f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "",
    )


def _html_table(figures: Mapping[str, Any]) -> str:
    per = figures["per_instrument"]
    columns = [("portfolio", figures), *per.items()]
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
    rows = []
    for key, label, kind in FIGURES:
        cells = "".join(
            f'<td data-scope="{html.escape(name)}" data-key="{key}" '
            f'data-value="{html.escape(json.dumps(values[key]))}">{html.escape(_display(values[key], kind))}</td>'
            for name, values in columns
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f'<table id="stats"><thead><tr><th>Figure</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _new_figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(10, 3.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.xaxis_date()
    axes.grid(alpha=0.3)
    return figure, axes


def _naive(times: Sequence[datetime]) -> Any:
    # Charts show exchange wall-clock time; matplotlib would otherwise convert to UTC.
    # date2num has no annotations in matplotlib's stubs; it returns float day numbers.
    return date2num([t.replace(tzinfo=None) for t in times])  # type: ignore[no-untyped-call]


def _equity_chart(result: ReplayResult, curve: Sequence[EquityPoint]) -> Figure:
    figure, axes = _new_figure()
    if curve:
        times = _naive([_start(result), *(p.time for p in curve)])
        axes.step(times, [float(result.capital), *(float(p.equity) for p in curve)], where="post", color="#1f5fa8")
    axes.set_ylabel("₹")
    return figure


def _drawdown_chart(curve: Sequence[EquityPoint]) -> Figure:
    figure, axes = _new_figure()
    if curve:
        times = _naive([p.time for p in curve])
        axes.fill_between(times, [-p.drawdown_pct for p in curve], step="post", color="#b83232", alpha=0.6)
    axes.set_ylabel("% from peak")
    return figure


def _exposure_chart(result: ReplayResult) -> Figure:
    figure, axes = _new_figure()
    for name in result.instruments:
        times, notional = _exposure(result, name)
        if times:
            axes.step(_naive(times), notional, where="post", label=name)
    if result.instruments:
        axes.legend(loc="upper left")
    axes.set_ylabel("₹ (lots × M × entry price)")
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


def _start(result: ReplayResult) -> datetime:
    return min([t.entry_time for t in result.closed] + [o.entry_time for o in result.open])


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1040px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }}
tbody th {{ text-align: left; font-weight: normal; }}
figure {{ margin: 1.5em 0; }}
figure img {{ max-width: 100%; }}
figcaption {{ color: #555; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Sizing: <b>{sizing}</b>; capital {capital}. Equity and drawdown are closed-trade equity in exit-time order.</p>
{table}
{images}
{notes}
</body>
</html>
"""
