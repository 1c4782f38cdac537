"""`basso montecarlo`: the replay's closed trades resampled many times on Dask; bands of what might have been."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from basso.backtest.report import display
from basso.cli import UsageError
from basso.commands.backtest import add_input_arguments, load_inputs, replay
from basso.commands.common import positive_number, whole_number
from basso.commands.dask_options import add_engine_arguments, engine_for, run_cancellable
from basso.research.montecarlo import (
    FIGURES,
    Job,
    Outcomes,
    identity_order,
    montecarlo_parts,
    run_chunk,
    simulate,
    summarise,
    trade_sequence,
)
from basso.research.report import write_montecarlo


def register(subparsers: Any) -> None:
    """Add the `montecarlo` sub-command."""
    parser = subparsers.add_parser(
        "montecarlo",
        help="resample the replay's trades: bands of final equity, CAGR and drawdown",
        description="Replay as `basso backtest` does, then resample its closed trades --runs times (each trade's "
        "result as a fraction of the equity it was sized on, so order matters) on a Dask cluster; "
        "5/50/95 %% bands of final equity, CAGR, max and longest drawdown, and the probability "
        "of a drawdown beyond --ruin. The same --seed gives the same runs on any number of workers.",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--method",
        choices=("shuffle", "bootstrap"),
        default="shuffle",
        help="shuffle: the same trades in another order (default); bootstrap: drawn with replacement",
    )
    parser.add_argument("--runs", type=_runs, default=1000, metavar="N", help="how many resamples (default 1000)")
    parser.add_argument(
        "--seed", type=_seed, metavar="S", help="the seed every run is derived from (default: a fresh one, printed)"
    )
    parser.add_argument(
        "--ruin",
        type=_ruin,
        default=30.0,
        metavar="PCT",
        help="a max drawdown beyond this %% counts as ruin (default 30)",
    )
    add_engine_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help="write report.html, results.csv and summary.json here")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Replay, resample on the cluster, then print the bands and write the files asked for."""
    inputs = load_inputs(args)
    result = replay(inputs)
    try:
        sequence = trade_sequence(result)
    except ValueError as exc:
        raise UsageError(f"--trades: {exc}") from None
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % (1 << 63))  # type: ignore[operator]
    job = Job(sequence=sequence, method=args.method, seed=seed)
    return run_cancellable(lambda: _resample(args, job, result))


def _resample(args: argparse.Namespace, job: Job, result: Any) -> int:
    with engine_for(args) as engine:
        parts = montecarlo_parts(args.runs, engine.workers)
        outcomes = Outcomes.join(
            engine.map(run_chunk, job, parts, sizes=[len(p) for p in parts], unit="runs", progress=not args.json)
        )
    replayed = simulate(job.sequence, identity_order(job.sequence))
    figures = summarise(job, outcomes, replayed, ruin_pct=args.ruin, result=result)
    written = write_montecarlo(args.out, figures, outcomes, replayed, job.sequence) if args.out is not None else []
    if args.json:
        print(json.dumps(figures))
        return 0
    console = Console()
    console.print(_table(figures))
    console.print(
        f"Probability of a drawdown beyond {args.ruin:g} %: {figures['probability_of_ruin_pct']:.2f} % "
        f"({figures['runs_ruined']:,} of {figures['runs']:,} runs); seed {job.seed}",
        markup=False,
        highlight=False,
    )
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


def _table(figures: dict[str, Any]) -> Table:
    table = Table(
        title=f"Monte Carlo: {figures['runs']:,} runs ({figures['method']}) of {figures['trades']:,} "
        f"trades, {figures['sizing']} sizing"
    )
    for column in ("Figure", "Replay", "5 %", "50 %", "95 %"):
        table.add_column(column, justify="left" if column == "Figure" else "right")
    for key, label, kind in FIGURES:
        spread = figures[key]
        table.add_row(
            label,
            display(figures["replay"][key], kind),
            *(display(spread[band], kind) for band in ("p5", "p50", "p95")),
        )
    return table


def _runs(text: str) -> int:
    value = whole_number(text)
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1,000,000, got {value}")
    return value


def _seed(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _ruin(text: str) -> float:
    value = positive_number(text)
    if value >= 100:
        raise argparse.ArgumentTypeError(f"is a drawdown in percent below 100, got {text}")
    return value
