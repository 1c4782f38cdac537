"""What `basso montecarlo` and `basso sweep` write: a self-contained HTML report (matplotlib charts embedded
as PNG data URIs, like `basso backtest`'s), results.csv (one row per run or configuration) and summary.json
(the same object `--json` prints)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from basso.backtest.report import display, indian_rupees
from basso.research.montecarlo import FIGURES, Outcomes, TradeSequence

__all__ = ["write_montecarlo", "write_sweep"]


# --- Monte Carlo --------------------------------------------------------------------------------------------


def write_montecarlo(
    out_dir: Path, figures: Mapping[str, Any], outcomes: Outcomes, replay: Outcomes, sequence: TradeSequence
) -> list[Path]:
    """report.html, results.csv and summary.json of a Monte Carlo into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "summary.json", out_dir / "results.csv", out_dir / "report.html"]
    paths[0].write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    ruin = figures["ruin_pct"]
    with paths[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "run",
                "final_equity",
                "cagr_pct",
                "max_drawdown_pct",
                "longest_drawdown_days",
                f"drawdown_beyond_{ruin:g}_pct",
            ]
        )
        for run in range(len(outcomes.final_equity)):
            drawdown = float(outcomes.max_drawdown_pct[run])
            writer.writerow(
                [
                    run,
                    f"{outcomes.final_equity[run]:.2f}",
                    f"{outcomes.cagr_pct[run]:.4f}",
                    f"{drawdown:.4f}",
                    f"{outcomes.longest_drawdown_days[run]:.2f}",
                    int(drawdown > ruin),
                ]
            )
    charts = [
        (
            "fan",
            f"Closed-trade equity: the replay and the 5–95 % and 25–75 % bands of the first "
            f"{len(outcomes.fan):,} runs (log scale)",
            _png(_fan_chart(outcomes, replay, sequence)),
        ),
        (
            "cagr",
            "CAGR of the runs; the line is the replay",
            _png(_histogram(outcomes.cagr_pct, replay.cagr_pct[0], "CAGR, %")),
        ),
        (
            "drawdown",
            "Max drawdown of the runs; the line is the replay, the dashed line the ruin threshold",
            _png(_histogram(outcomes.max_drawdown_pct, replay.max_drawdown_pct[0], "max drawdown, %", ruin)),
        ),
    ]
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(
            _cell(key, band, figures[key][band] if band != "replay" else figures["replay"][key], kind)
            for band in ("replay", "p5", "p50", "p95", "mean")
        )
        + "</tr>"
        for key, label, kind in FIGURES
    )
    table = (
        '<table id="bands"><thead><tr><th>Figure</th><th>Replay</th><th>5 %</th><th>50 %</th><th>95 %</th>'
        f"<th>Mean</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    intro = (
        f"{figures['runs']:,} runs ({html.escape(figures['method'])}) of {figures['trades']:,} closed trades, "
        f"seed {figures['seed']}; {html.escape(figures['sizing'])} sizing, capital "
        f"{html.escape(indian_rupees(figures['capital']))}. Probability of a drawdown beyond {ruin:g} %: "
        f'<b id="ruin" data-value="{figures["probability_of_ruin_pct"]}">'
        f"{figures['probability_of_ruin_pct']:.2f} %</b> ({figures['runs_ruined']:,} runs)."
    )
    title = f"Basso Monte Carlo: {', '.join(figures['instruments'])}"
    paths[2].write_text(_page(title, intro, table, charts, ""), encoding="utf-8")
    return paths


def _cell(key: str, band: str, value: Any, kind: str) -> str:
    return (
        f'<td data-key="{key}" data-band="{band}" data-value="{html.escape(json.dumps(value))}">'
        f"{html.escape(display(value, kind))}</td>"
    )


def _fan_chart(outcomes: Outcomes, replay: Outcomes, sequence: TradeSequence) -> Figure:
    figure, axes = _new_figure()
    times = date2num([sequence.times[k].replace(tzinfo=None) for k in sequence.fan_points])  # type: ignore[no-untyped-call]
    axes.xaxis_date()
    fan = outcomes.fan.astype(np.float64)
    p5, p25, p50, p75, p95 = np.percentile(fan, [5, 25, 50, 75, 95], axis=0)
    floor = max(1.0, float(np.min(fan[fan > 0]))) if np.any(fan > 0) else 1.0
    axes.fill_between(times, np.maximum(p5, floor), np.maximum(p95, floor), color="#1f5fa8", alpha=0.18, label="5–95 %")
    axes.fill_between(
        times, np.maximum(p25, floor), np.maximum(p75, floor), color="#1f5fa8", alpha=0.3, label="25–75 %"
    )
    axes.plot(times, np.maximum(p50, floor), color="#1f5fa8", linewidth=1.2, label="median")
    axes.plot(
        times, np.maximum(replay.fan[0].astype(np.float64), floor), color="#b83232", linewidth=1.2, label="replay"
    )
    axes.set_yscale("log")
    axes.set_ylabel("₹")
    axes.legend(loc="upper left")
    return figure


def _histogram(values: np.ndarray[Any, Any], replayed: float, label: str, threshold: float | None = None) -> Figure:
    figure, axes = _new_figure()
    finite = values[np.isfinite(values)]
    axes.hist(finite, bins=min(60, max(10, int(math.sqrt(len(finite))))), color="#1f5fa8", alpha=0.75)
    axes.axvline(replayed, color="#b83232", linewidth=2, label=f"replay {replayed:.2f}")
    if threshold is not None:
        axes.axvline(threshold, color="#222", linestyle="--", linewidth=1, label=f"ruin {threshold:g}")
    axes.set_xlabel(label)
    axes.set_ylabel("runs")
    axes.legend(loc="upper right")
    return figure


# --- sweep --------------------------------------------------------------------------------------------------

SWEEP_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cagr_pct", "CAGR", "pct"),
    ("max_drawdown_pct", "Max DD", "pct"),
    ("mar", "MAR", "ratio"),
    ("profit_factor", "Profit factor", "ratio"),
    ("trades_closed", "Trades", "count"),
    ("max_lots", "Max lots", "count"),
    ("final_equity", "Final equity", "money"),
)


def write_sweep(
    out_dir: Path,
    figures: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    heat: tuple[str, str] | None,
    snippet: str,
) -> list[Path]:
    """report.html, results.csv and summary.json of a sweep into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "summary.json", out_dir / "results.csv", out_dir / "report.html"]
    paths[0].write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    names = list(figures["grid"])
    keys = [key for key, _, _ in SWEEP_COLUMNS]
    with paths[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["config", *names, *keys, "net_pnl", "win_rate_pct", "max_open_lots"])
        for row in rows:
            writer.writerow(
                [
                    row["config"],
                    *(row["settings"][n] for n in names),
                    *(row[k] for k in keys),
                    row["net_pnl"],
                    row["win_rate_pct"],
                    row["max_open_lots"],
                ]
            )
    charts = []
    if heat is not None:
        charts.append(
            (
                "heatmap",
                f"MAR by {heat[0]} and {heat[1]} (the best over the other settings)",
                _png(_heat_map(rows, heat)),
            )
        )
    head = "".join(f'<th data-sort="{html.escape(n)}">{html.escape(n)}</th>' for n in names) + "".join(
        f'<th data-sort="{key}">{html.escape(label)}</th>' for key, label, _ in SWEEP_COLUMNS
    )
    body = "".join(
        f'<tr data-config="{row["config"]}">'
        + "".join(
            f'<td data-key="{html.escape(n)}" data-value="{html.escape(json.dumps(row["settings"][n]))}">'
            f"{html.escape(str(row['settings'][n]))}</td>"
            for n in names
        )
        + "".join(
            f'<td data-key="{key}" data-value="{html.escape(json.dumps(row[key]))}">'
            f"{html.escape(display(row[key], kind))}</td>"
            for key, _, kind in SWEEP_COLUMNS
        )
        + "</tr>"
        for row in rows
    )
    table = (
        f'<p>Click a column to sort by it (again to reverse).</p><table id="results"><thead><tr>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table>{_SORT_SCRIPT}"
    )
    best = figures["best"]
    instruments = html.escape(", ".join(figures["instruments"]))
    intro = (
        f"{len(rows):,} configurations, each a full Basso-sizing replay of {instruments}"
        f" from {html.escape(indian_rupees(figures['capital']))}; ranked by {html.escape(figures['rank_by'])}. "
        f"Best: configuration {best['config']}."
    )
    extra = f'<h2>Best settings, for <code>basso --config</code></h2><pre id="snippet">{html.escape(snippet)}</pre>'
    title = f"Basso sweep: {', '.join(figures['instruments'])}"
    paths[2].write_text(_page(title, intro, table, charts, extra), encoding="utf-8")
    return paths


def _heat_map(rows: Sequence[Mapping[str, Any]], heat: tuple[str, str]) -> Figure:
    across, down = heat
    xs = sorted({row["settings"][across] for row in rows}, key=_order)
    ys = sorted({row["settings"][down] for row in rows}, key=_order)
    grid = np.full((len(ys), len(xs)), np.nan)
    for row in rows:
        value = row["mar"] if row["mar"] is not None else math.inf
        i, j = ys.index(row["settings"][down]), xs.index(row["settings"][across])
        grid[i, j] = value if math.isnan(grid[i, j]) else max(grid[i, j], value)
    figure, axes = _new_figure(height=max(3.0, 0.45 * len(ys) + 1.6))
    axes.grid(False)  # the cells are the grid
    shown = np.where(np.isfinite(grid), grid, np.nan)
    colours = LinearSegmentedColormap.from_list("mar", ["#b83232", "#f4f1de", "#2a7f3f"])
    image = axes.imshow(shown, aspect="auto", cmap=colours, origin="lower")
    axes.set_xticks(range(len(xs)), [str(x) for x in xs])
    axes.set_yticks(range(len(ys)), [str(y) for y in ys])
    axes.set_xlabel(across)
    axes.set_ylabel(down)
    for i in range(len(ys)):
        for j in range(len(xs)):
            text = "—" if math.isnan(grid[i, j]) else ("∞" if math.isinf(grid[i, j]) else f"{grid[i, j]:.2f}")
            axes.text(j, i, text, ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, label="MAR")
    return figure


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) and not isinstance(value, bool) else (1, str(value))


# --- page ---------------------------------------------------------------------------------------------------


def _new_figure(height: float = 3.6) -> tuple[Figure, Any]:
    figure = Figure(figsize=(10, height), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.grid(alpha=0.3)
    return figure, axes


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _page(title: str, intro: str, table: str, charts: Sequence[tuple[str, str, str]], extra: str) -> str:
    images = "\n".join(
        f'<figure><img id="chart-{name}" alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption, data in charts
    )
    return _PAGE.format(title=html.escape(title), intro=intro, table=table, images=images, extra=extra)


# Sorting in the page itself (no library, nothing fetched): by each cell's data-value, numbers as numbers.
_SORT_SCRIPT = """<script>
document.querySelectorAll("#results th[data-sort]").forEach((header, column) => {
  header.addEventListener("click", () => {
    const body = document.querySelector("#results tbody");
    const down = header.dataset.order !== "desc";
    document.querySelectorAll("#results th").forEach(h => delete h.dataset.order);
    header.dataset.order = down ? "desc" : "asc";
    const key = row => { const v = JSON.parse(row.children[column].dataset.value);
                         return v === null ? Infinity : v; };
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b);
      const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return down ? -c : c; });
    rows.forEach(row => body.appendChild(row));
  });
});
</script>"""

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
th[data-sort] {{ cursor: pointer; }}
th[data-order="desc"]::after {{ content: " ▼"; }}
th[data-order="asc"]::after {{ content: " ▲"; }}
figure {{ margin: 1.5em 0; }}
figure img {{ max-width: 100%; }}
figcaption {{ color: #555; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{intro}</p>
{table}
{images}
{extra}
</body>
</html>
"""
