"""Benchmark of research at scale: Monte Carlo runs and sweep configurations per second on 1 and 2 workers.

    python bench/research.py [--runs 10000] [--configs 100]

Prints the figures for people, then one JSON line:
{"montecarlo_runs_per_s": {"1": …, "2": …}, "montecarlo_scaling": …, "sweep_configs_per_s": {"1": …, "2": …},
 "sweep_scaling": …, …}.

* Monte Carlo: --runs shuffles (default 10,000) of the bundled Bank Nifty export (tests/data/ITJ_BN_TF_run_1.csv,
  587 trades) at fixed sizing (M 35, 0.1 % commission), the chunks `basso montecarlo` makes, on a local Dask
  cluster that is already up (its workers have imported Basso): the time from submitting the work to having
  every run's outcome back. The cluster's start (a few seconds) is reported apart, as `cluster_start_s`.
* Sweep: --configs configurations (default 100: risk_pct × vol_pct × equity_mode × pyramid_ratio, 5 × 5 × 2 × 2)
  of Basso sizing over both bundled exports merged, with bars generated through their prices
  (`basso.research.synthetic`), each a full replay through the live rules, on the same kind of cluster.
* scaling = (rate on 2 workers) ÷ (rate on 1 worker).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from argparse import Namespace
from dataclasses import replace
from pathlib import Path
from typing import Any

from basso.backtest.bars import bars_csv
from basso.backtest.tradingview import read_trade_list
from basso.commands.backtest import load_inputs, replay
from basso.config import load_config, load_raw_config
from basso.research import montecarlo, sweep
from basso.research.engine import open_engine
from basso.research.grid import expand, parse_grid_args
from basso.research.montecarlo import Job, Outcomes, trade_sequence
from basso.research.synthetic import bars_through_trades

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
GOLD, BANK_NIFTY = DATA / "Gold_Mini_Trend_Following.csv", DATA / "ITJ_BN_TF_run_1.csv"
GRID = [
    "risk_pct=0.3,0.5,0.75,1,1.25",
    "vol_pct=0.2,0.3,0.4,0.5,0.6",
    "equity_mode=closed,blended",
    "pyramid_ratio=0.25,0.5",
]


def montecarlo_job() -> Job:
    args = _args(
        trades=[("BANK_NIFTY", str(BANK_NIFTY))],
        multiplier=[("BANK_NIFTY", "35")],
        commission=[(None, 0.001)],
        sizing="fixed",
    )
    return Job(sequence=trade_sequence(replay(load_inputs(args))), method="shuffle", seed=1)


def sweep_job(tmp: Path, count: int) -> tuple[Any, list[Any]]:
    config = load_config()
    pairs = []
    for name, path, volatility in (("GOLD_MINI", GOLD, 0.003), ("BANK_NIFTY", BANK_NIFTY, 0.004)):
        bars = bars_through_trades(read_trade_list(path, name), config.instrument(name), seed=7, volatility=volatility)
        target = tmp / f"{name}_bars.csv"
        target.write_text(bars_csv(bars), "utf-8")
        pairs.append((name, str(target)))
    args = _args(
        trades=[("GOLD_MINI", str(GOLD)), ("BANK_NIFTY", str(BANK_NIFTY))],
        bars=pairs,
        commission=[(None, 0.0005)],
        sizing="basso",
    )
    inputs = load_inputs(args)
    base = {
        "paper.commission_pct": inputs.config.paper.commission_pct,
        "backtest.atr_period": inputs.config.backtest.atr_period,
    }
    configurations = expand(parse_grid_args(GRID), load_raw_config(), base, list(inputs.trades))[:count]
    return replace(inputs, trades={}), configurations


def _args(**given: Any) -> Namespace:
    defaults: dict[str, Any] = {
        "config": None,
        "capital": None,
        "bars": [],
        "multiplier": [],
        "commission": [],
        "pnl": "formula",
        "atr_period": None,
    }
    return Namespace(**{**defaults, **given})


def warm() -> None:
    """On every worker: import what the tasks need, so the timing is of the work, not of a worker's imports."""
    import basso.research.montecarlo
    import basso.research.sweep  # noqa: F401


def timed_montecarlo(job: Job, runs: int, workers: int) -> dict[str, float]:
    started = time.perf_counter()
    with open_engine(None, workers) as engine:
        engine.client.run(warm)
        up = time.perf_counter()
        parts = montecarlo.montecarlo_parts(runs, engine.workers)
        outcomes = Outcomes.join(
            engine.map(montecarlo.run_chunk, job, parts, sizes=[len(p) for p in parts], unit="runs", progress=False)
        )
        done = time.perf_counter()
    assert len(outcomes.final_equity) == runs
    return {"start_s": up - started, "work_s": done - up, "rate": runs / (done - up)}


def timed_sweep(inputs: Any, configurations: list[Any], workers: int) -> dict[str, float]:
    started = time.perf_counter()
    with open_engine(None, workers) as engine:
        engine.client.run(warm)
        up = time.perf_counter()
        parts = sweep.sweep_parts(configurations, engine.workers)
        rows = [
            row
            for part in engine.map(
                sweep.run_chunk, inputs, parts, sizes=[len(p) for p in parts], unit="configurations", progress=False
            )
            for row in part
        ]
        done = time.perf_counter()
    assert len(rows) == len(configurations)
    return {"start_s": up - started, "work_s": done - up, "rate": len(rows) / (done - up)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--configs", type=int, default=100)
    parser.add_argument("--tmp", type=Path, default=Path("/tmp"))
    options = parser.parse_args()
    job = montecarlo_job()
    inputs, configurations = sweep_job(options.tmp, options.configs)
    mc = {w: timed_montecarlo(job, options.runs, w) for w in (1, 2)}
    sw = {w: timed_sweep(inputs, configurations, w) for w in (1, 2)}
    for w in (1, 2):
        print(
            f"{w} worker(s): Monte Carlo {options.runs:,} runs in {mc[w]['work_s']:.2f} s "
            f"({mc[w]['rate']:,.0f} runs/s, cluster up in {mc[w]['start_s']:.1f} s); sweep "
            f"{len(configurations)} configurations in {sw[w]['work_s']:.1f} s ({sw[w]['rate']:.2f}/s)"
        )
    print(
        json.dumps(
            {
                "montecarlo_runs": options.runs,
                "montecarlo_runs_per_s": {str(w): round(mc[w]["rate"], 1) for w in (1, 2)},
                "montecarlo_s": {str(w): round(mc[w]["work_s"], 3) for w in (1, 2)},
                "montecarlo_scaling": round(mc[2]["rate"] / mc[1]["rate"], 3),
                "sweep_configs": len(configurations),
                "sweep_configs_per_s": {str(w): round(sw[w]["rate"], 3) for w in (1, 2)},
                "sweep_s": {str(w): round(sw[w]["work_s"], 2) for w in (1, 2)},
                "sweep_scaling": round(sw[2]["rate"] / sw[1]["rate"], 3),
                "cluster_start_s": {str(w): round(mc[w]["start_s"], 2) for w in (1, 2)},
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
