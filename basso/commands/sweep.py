"""`basso sweep`: a grid of sizing settings, each a full Basso-sizing replay on Dask; the best as a config."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from basso.backtest.report import display
from basso.cli import UsageError
from basso.commands.backtest import ReplayInputs, add_input_arguments, load_inputs
from basso.commands.common import user_config_path
from basso.commands.dask_options import add_engine_arguments, engine_for, run_cancellable
from basso.config import load_raw_config
from basso.research.grid import Configuration, GridError, Value, expand, parse_grid_args, read_grid_file, snippet
from basso.research.report import SWEEP_COLUMNS, write_sweep
from basso.research.sweep import RANKS, best, run_chunk, sweep_parts


def register(subparsers: Any) -> None:
    """Add the `sweep` sub-command."""
    parser = subparsers.add_parser(
        "sweep",
        help="replay a grid of sizing settings with Basso sizing; the best as a config snippet",
        description="Replay the exports with Basso sizing once per combination of --grid values (or a TOML grid "
        "file), each through the same rules as live, on a Dask cluster; a results table (CAGR, max "
        "drawdown, MAR, profit factor, trades, max lots) and the best settings as a snippet for "
        "`basso --config`.",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--grid",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=V1,V2",
        help="settings to sweep: risk_pct, vol_pct, equity_mode, pyramid_ratio, … or full keys "
        "such as portfolio.max_risk_pct",
    )
    parser.add_argument("--grid-file", type=Path, metavar="FILE", help="the grid as TOML (NAME = [values])")
    parser.add_argument(
        "--rank-by",
        choices=RANKS,
        default="mar",
        help="which figure picks the best configuration (default mar = CAGR ÷ max drawdown)",
    )
    parser.add_argument(
        "--heatmap",
        metavar="X,Y",
        help="the two grid names of the report's heat map (default: the first two with several values)",
    )
    add_engine_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help="write report.html, results.csv and summary.json here")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the grid, replay every configuration on the cluster, then show and write the results."""
    if args.sizing != "basso":
        raise UsageError("--sizing: a sweep tries Basso's sizing settings; add --sizing basso (and --bars)")
    inputs = load_inputs(args)
    configurations = _configurations(args, inputs)
    heat = _heat(args, configurations)
    return run_cancellable(lambda: _sweep(args, inputs, configurations, heat))


def _configurations(args: argparse.Namespace, inputs: ReplayInputs) -> list[Configuration]:
    try:
        grid = parse_grid_args(args.grid)
        if args.grid_file is not None:
            grid += read_grid_file(args.grid_file)
        return expand(grid, load_raw_config(user_config_path(args)), _base(inputs), list(inputs.trades))
    except GridError as exc:
        raise UsageError(str(exc)) from None


def _heat(args: argparse.Namespace, configurations: list[Configuration]) -> tuple[str, str] | None:
    names = list(configurations[0].settings)
    if args.heatmap is not None:
        chosen = [n.strip() for n in args.heatmap.split(",")]
        if len(chosen) != 2 or chosen[0] == chosen[1] or not all(n in names for n in chosen):
            raise UsageError(
                f"--heatmap: name two different settings of the grid ({', '.join(names)}), got {args.heatmap!r}"
            )
        return chosen[0], chosen[1]
    varying = [n for n in names if len({c.settings[n] for c in configurations}) > 1]
    return (varying[0], varying[1]) if len(varying) >= 2 else None


def _sweep(
    args: argparse.Namespace, inputs: ReplayInputs, configurations: list[Configuration], heat: tuple[str, str] | None
) -> int:
    with engine_for(args) as engine:
        parts = sweep_parts(configurations, engine.workers)
        # Each configuration carries its own validated Config; the inputs (signals, bars) are scattered once.
        shared = replace(inputs, trades={})
        rows = [
            row
            for part in engine.map(
                run_chunk, shared, parts, sizes=[len(p) for p in parts], unit="configurations", progress=not args.json
            )
            for row in part
        ]
    top = best(rows, args.rank_by)
    chosen = configurations[top["config"]]
    # The command line's own settings are left out of the snippet (give them again with `basso backtest`).
    text = snippet(
        chosen,
        f"basso sweep: best by {args.rank_by} (configuration {chosen.index}): CAGR "
        f"{top['cagr_pct']:.2f} %, max drawdown {top['max_drawdown_pct']:.2f} %",
        skip=[key for key, value in _base(inputs).items() if chosen.keys[key] == value],
    )
    figures = {
        "configurations": len(rows),
        "instruments": list(inputs.bars),
        "capital": inputs.capital,
        "grid": {name: _values(configurations, name) for name in chosen.settings},
        "rank_by": args.rank_by,
        "best": top,
        "snippet": text,
        "results": rows,
    }
    written = write_sweep(args.out, figures, rows, heat, text) if args.out is not None else []
    if args.json:
        print(json.dumps(figures))
        return 0
    console = Console()
    console.print(_table(rows, list(chosen.settings), args.rank_by))
    console.print(text, markup=False, highlight=False)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


def _base(inputs: ReplayInputs) -> dict[str, Value]:
    """The command line's settings (--commission, --atr-period): they hold in every configuration unless the
    grid sweeps them."""
    return {
        "paper.commission_pct": inputs.config.paper.commission_pct,
        "backtest.atr_period": inputs.config.backtest.atr_period,
    }


def _values(configurations: list[Configuration], name: str) -> list[Any]:
    seen: list[Any] = []
    for configuration in configurations:
        if configuration.settings[name] not in seen:
            seen.append(configuration.settings[name])
    return seen


def _table(rows: list[dict[str, Any]], names: list[str], rank_by: str) -> Table:
    ranked = sorted(rows, key=lambda r: float("inf") if r[rank_by] is None else r[rank_by], reverse=True)
    table = Table(title=f"Sweep: {len(rows):,} configurations, best {rank_by} first")
    for name in names:
        table.add_column(name)
    for _, label, _ in SWEEP_COLUMNS:
        table.add_column(label, justify="right")
    for row in ranked:
        table.add_row(
            *(str(row["settings"][n]) for n in names), *(display(row[key], kind) for key, _, kind in SWEEP_COLUMNS)
        )
    return table
