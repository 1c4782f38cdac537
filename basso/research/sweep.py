"""A sweep's work: each configuration a full Basso-sizing replay of the same inputs through the live rules
(`basso.backtest.sized`, via the replay `basso backtest` runs), reduced to one row of figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from basso.backtest.report import summary
from basso.commands.backtest import ReplayInputs, replay
from basso.research.engine import chunks
from basso.research.grid import Configuration

__all__ = ["RANKS", "RankBy", "best", "row_of", "run_chunk", "sweep_parts"]

RankBy = Literal["mar", "cagr_pct", "profit_factor", "final_equity"]
RANKS: tuple[RankBy, ...] = ("mar", "cagr_pct", "profit_factor", "final_equity")


def sweep_parts(configurations: Sequence[Configuration], workers: int) -> list[list[Configuration]]:
    """The tasks a sweep's configurations are cut into. Small ones: a configuration takes a few hundred
    milliseconds and they are uneven in length (one that sizes larger trades more), so with about sixteen chunks
    a worker neither waits long for the other at the end nor pays much per task."""
    return [
        [configurations[i] for i in part]
        for part in chunks(len(configurations), workers=workers, per_worker=16, smallest=1, largest=50)
    ]


def run_chunk(inputs: ReplayInputs, part: Sequence[Configuration]) -> list[dict[str, Any]]:
    """One task: a row for each configuration of `part`."""
    return [row_of(configuration, summary(replay(inputs, config=configuration.config))) for configuration in part]


def row_of(configuration: Configuration, figures: dict[str, Any]) -> dict[str, Any]:
    """A results row: the settings and the figures `basso backtest --json` prints for the same configuration,
    with MAR = CAGR ÷ max drawdown (None, shown ∞, when nothing was ever lost from a peak)."""
    drawdown = figures["max_drawdown_pct"]
    keep = (
        "cagr_pct",
        "max_drawdown_pct",
        "profit_factor",
        "trades_closed",
        "max_lots",
        "max_open_lots",
        "final_equity",
        "net_pnl",
        "win_rate_pct",
    )
    return {
        "config": configuration.index,
        "settings": dict(configuration.settings),
        "mar": round(figures["cagr_pct"] / drawdown, 4) if drawdown > 0 else None,
        **{key: figures[key] for key in keep},
    }


def best(rows: Sequence[dict[str, Any]], rank_by: RankBy) -> dict[str, Any]:
    """The row with the highest `rank_by` (None, an unbounded ratio, ranks highest); the first on a tie."""
    return max(rows, key=lambda row: (float("inf") if row[rank_by] is None else row[rank_by], -row["config"]))
