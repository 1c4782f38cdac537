"""What a backtest shows: the summary object, the terminal table, and the files `--out DIR` writes.

`summary` is the one JSON-able object every output is made from (`--json` prints it, `summary.json` stores it,
the terminal table and the HTML report display it), so the figures cannot disagree between outputs. Money is
rounded to paise from the Decimal totals; percentages and ratios to 4 decimals.

The HTML report stands alone (its charts, from `basso.backtest.charts`, are PNGs embedded as data URIs; no
script, no CDN) and uses the page's full width: the figures, the equity curve with its drawdown underneath (linear
or log scale, a click apart), monthly returns as a heat map, exposure by instrument, every trade, and what the
rules did (Basso sizing's notes).
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from basso.backtest.charts import equity_chart, exposure_chart, figure_png
from basso.backtest.replay import ReplayResult
from basso.backtest.stats import EquityPoint, TradeStats, equity_curve, per_instrument_stats, portfolio_stats
from basso.display import rupees

__all__ = ["FIGURES", "display", "indian_rupees", "monthly_returns", "stats_table", "summary", "write_outputs"]

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


def display(value: Any, kind: str) -> str:
    """`value` as the tables and reports show a figure of that kind (the backtest's and the research's)."""
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
    if kind == "days":
        return f"{value:,.0f}"
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
        table.add_row(label, display(figures[key], kind), *(display(per[name][key], kind) for name in per))
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
        writer.writerow(
            [
                "status",
                "instrument",
                "trade",
                "position",
                "lots",
                "entry_time",
                "entry_price",
                "exit_time",
                "exit_price",
                "multiplier",
                "commission",
                "pnl",
                "reason",
            ]
        )
        for t in result.closed:
            writer.writerow(
                [
                    "closed",
                    t.instrument,
                    t.trade or "",
                    f"Long_{t.layer}",
                    t.lots,
                    t.entry_time.isoformat(),
                    t.entry_price,
                    t.exit_time.isoformat(),
                    t.exit_price,
                    t.multiplier,
                    t.commission,
                    t.pnl,
                    t.reason,
                ]
            )
        for o in result.open:
            writer.writerow(
                [
                    "open",
                    o.instrument,
                    o.trade or "",
                    f"Long_{o.layer}",
                    o.lots,
                    o.entry_time.isoformat(),
                    o.entry_price,
                    o.mark_time.isoformat(),
                    o.mark_price,
                    o.multiplier,
                    "",
                    o.unrealised,
                    "open at the last mark",
                ]
            )


def _write_equity(path: Path, result: ReplayResult, curve: Sequence[EquityPoint]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "closed_equity", "drawdown_pct"])
        for point in curve:
            writer.writerow([point.time.isoformat(), point.equity, f"{point.drawdown_pct:.4f}"])


# --- HTML -------------------------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Above this growth (final ÷ lowest equity) the report opens on the log-scale equity chart: a linear axis would
# flatten the early years into a line. The other scale is one click away.
LOG_SCALE_FROM_GROWTH = 10.0


def _html(result: ReplayResult, figures: Mapping[str, Any], curve: Sequence[EquityPoint]) -> str:
    levels = [float(result.capital), *(float(p.equity) for p in curve)]
    log_first = min(levels) > 0 and max(levels) / min(levels) > LOG_SCALE_FROM_GROWTH
    return _PAGE.format(
        title=html.escape(f"Basso backtest: {', '.join(result.instruments)}"),
        sizing=html.escape(result.sizing),
        capital=html.escape(indian_rupees(figures["capital"])),
        table=_html_table(figures),
        linear_checked="" if log_first else " checked",
        log_checked=" checked" if log_first else "",
        equity_linear=_image("equity", "Closed-trade equity and drawdown", equity_chart(result, curve, log=False)),
        equity_log=_image(
            "equity-log", "Closed-trade equity (log scale) and drawdown", equity_chart(result, curve, log=True)
        ),
        exposure=_image("exposure", "Open exposure by instrument", exposure_chart(result)),
        monthly=_monthly_table(monthly_returns(result.capital, curve)),
        trades=_trades_table(result),
        notes=_notes_list(figures["notes"]),
    )


def _image(name: str, title: str, figure: Any) -> str:
    return (
        f'<figure id="figure-{name}"><img id="chart-{name}" alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{figure_png(figure)}"></figure>'
    )


def _html_table(figures: Mapping[str, Any]) -> str:
    per = figures["per_instrument"]
    columns = [("portfolio", figures), *per.items()]
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
    rows = []
    for key, label, kind in FIGURES:
        cells = "".join(
            f'<td data-scope="{html.escape(name)}" data-key="{key}" '
            f'data-value="{html.escape(json.dumps(values[key]))}">{html.escape(display(values[key], kind))}</td>'
            for name, values in columns
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f'<table id="stats"><thead><tr><th>Figure</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def monthly_returns(capital: Decimal, curve: Sequence[EquityPoint]) -> dict[int, list[float | None]]:
    """Closed-trade equity's return per calendar month (IST), by year: 12 entries, None outside the run.

    A month's return = equity at its end ÷ equity at the previous month's end − 1 (capital before the first
    trade closed); a month in which nothing closed is 0 %.
    """
    if not curve:
        return {}
    first, last = curve[0].time, curve[-1].time
    ends: dict[tuple[int, int], Decimal] = {}
    for point in curve:  # in time order: the last point of a month is its end
        ends[(point.time.year, point.time.month)] = point.equity
    table: dict[int, list[float | None]] = {}
    previous = capital
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        end = ends.get((year, month), previous)
        table.setdefault(year, [None] * 12)[month - 1] = float(end / previous - 1) * 100 if previous else None
        previous = end
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return table


def _monthly_table(table: Mapping[int, Sequence[float | None]]) -> str:
    if not table:
        return "<p>No trade closed: no monthly returns.</p>"
    largest = max((abs(v) for row in table.values() for v in row if v is not None), default=0.0) or 1.0
    head = "".join(f"<th>{m}</th>" for m in _MONTHS)
    rows = []
    for year, row in table.items():
        growth = 1.0
        for value in row:
            growth *= 1 + (value or 0.0) / 100
        cells = "".join(_return_cell(v, largest) for v in row) + _return_cell((growth - 1) * 100, None)
        rows.append(f"<tr><th>{year}</th>{cells}</tr>")
    return (
        f'<table id="monthly" class="heat"><thead><tr><th></th>{head}<th>Year</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _return_cell(value: float | None, largest: float | None) -> str:
    if value is None:
        return '<td class="none"></td>'
    style = ""
    if largest is not None:
        strength = min(1.0, abs(value) / largest) ** 0.6 * 0.75  # small months stay visible, big ones don't shout
        colour = "34, 139, 34" if value >= 0 else "196, 48, 48"
        style = f' style="background: rgba({colour}, {strength:.2f})"'
    shown = "0.0 %" if abs(value) < 0.05 else f"{value:+.1f} %".replace("-", "−")
    return f'<td data-value="{value:.4f}"{style}>{shown}</td>'


def _trades_table(result: ReplayResult) -> str:
    rows = []
    for t in sorted(result.closed, key=lambda t: (t.entry_time, t.instrument, t.layer)):
        rows.append(
            _trade_row(
                t.instrument,
                t.layer,
                t.lots,
                t.entry_time,
                t.entry_price,
                t.exit_time,
                t.exit_price,
                float(t.pnl),
                t.reason,
            )
        )
    for o in sorted(result.open, key=lambda o: (o.entry_time, o.instrument, o.layer)):
        rows.append(
            _trade_row(
                o.instrument,
                o.layer,
                o.lots,
                o.entry_time,
                o.entry_price,
                o.mark_time,
                o.mark_price,
                float(o.unrealised),
                "open: marked at the last price",
            )
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Instrument",
            "Layer",
            "Lots",
            "Entry",
            "Entry price",
            "Exit",
            "Exit price",
            "P&amp;L",
            "Why it closed",
        )
    )
    return (
        f'<div class="scroll"><table id="trades"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _trade_row(
    instrument: str,
    layer: int,
    lots: int,
    entry_time: datetime,
    entry: float,
    exit_time: datetime,
    exit_: float,
    pnl: float,
    reason: str,
) -> str:
    cells = [
        instrument,
        f"Long_{layer}",
        str(lots),
        entry_time.strftime("%Y-%m-%d %H:%M"),
        f"{entry:,.2f}",
        exit_time.strftime("%Y-%m-%d %H:%M"),
        f"{exit_:,.2f}",
    ]
    tone = "gain" if pnl >= 0 else "loss"
    return (
        "<tr>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        + f'<td class="{tone}">{html.escape(indian_rupees(pnl))}</td>'
        + f'<td class="reason">{html.escape(reason)}</td></tr>'
    )


def _notes_list(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = []
    for note in notes:
        what, _, first = note.partition("; the first, ")
        detail = f'<div class="first">The first: {html.escape(first)}</div>' if first else ""
        items.append(f"<li><b>{html.escape(what)}</b>{detail}</li>")
    return f'<h2>What the rules did</h2><ul id="notes">{"".join(items)}</ul>'


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }}
h1 {{ margin: 0 0 0.2em; font-size: 1.6em; }}
h2 {{ margin: 1.6em 0 0.5em; font-size: 1.25em; }}
table {{ border-collapse: collapse; font-variant-numeric: tabular-nums; }}
th, td {{ padding: 0.25em 0.7em; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }}
thead th {{ background: #f4f6f8; position: sticky; top: 0; }}
tbody th {{ text-align: left; font-weight: normal; }}
.top {{ display: flex; flex-wrap: wrap; gap: 1em 2.5em; align-items: flex-start; font-size: 0.92em; }}
.top h2 {{ margin-top: 0.4em; }}
figure {{ margin: 0.5em 0 1em; }}
figure img {{ width: 100%; height: auto; display: block; }}
.scale input {{ margin-left: 1em; }}
#scale-linear:checked ~ #figure-equity-log, #scale-log:checked ~ #figure-equity {{ display: none; }}
.heat th, .heat td {{ padding: 0.25em 0.45em; }}
.heat td {{ min-width: 3.6em; }}
.heat td.none {{ background: #fafafa; }}
.heat td:last-child {{ font-weight: 600; border-left: 2px solid #ccc; }}
.scroll {{ max-height: 36em; overflow: auto; border: 1px solid #e3e3e3; }}
#trades {{ width: 100%; }}
#trades th:last-child {{ text-align: left; }}
#trades td.reason {{ text-align: left; white-space: normal; color: #555; min-width: 20em; }}
td.gain {{ color: #1c7a1c; }}
td.loss {{ color: #b02a2a; }}
#notes {{ line-height: 1.45; padding-left: 1.2em; }}
#notes li {{ margin-bottom: 0.5em; }}
#notes .first {{ color: #555; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Sizing: <b>{sizing}</b>; capital {capital}. Equity and drawdown are closed-trade equity in exit-time order;
times are IST.</p>
<div class="top">
<section><h2>Figures</h2>
{table}
</section>
<section><h2>Monthly returns (closed-trade equity)</h2>
{monthly}
</section>
</div>
<h2>Equity and drawdown</h2>
<div class="scale">Scale:
<input type="radio" name="scale" id="scale-linear"{linear_checked}><label for="scale-linear">linear</label>
<input type="radio" name="scale" id="scale-log"{log_checked}><label for="scale-log">log</label>
{equity_linear}
{equity_log}
</div>
<h2>Exposure</h2>
{exposure}
<h2>Trades</h2>
{trades}
{notes}
</body>
</html>
"""
