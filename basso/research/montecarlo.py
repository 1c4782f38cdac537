"""Monte Carlo of a replay's closed trades: the same results in another order (shuffle) or drawn again
(bootstrap), compounded so that order matters.

The replay's timeline is kept: trade j still enters and exits when it did, and is sized on the closed-trade
equity of that moment (every trade that had closed by its entry, exits at the same minute first, as
`basso.backtest.stats` counts them). What moves is its *result*: each closed trade's P&L as a fraction of the
equity it was sized on, r = P&L ÷ equity at entry. A run gives slot j the fraction of trade π(j) and books
r × (its own equity at entry), rounded to paise as the ledger books money. With π the identity every trade
books its own P&L to the paisa, so the run is the replay (tests/research/test_montecarlo.py proves it).

Each run's generator is derived from (seed, run index) with numpy's SeedSequence spawn keys, so a run's
result does not depend on which chunk, worker or machine computed it.

Per run: final closed equity, CAGR over the replay's period, max drawdown of closed equity (measured after
each exit time, as the replay's is), the longest drawdown (calendar days from a peak until equity regains
it, or until the end), and whether the max drawdown went beyond the ruin threshold.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Literal

import numpy as np
import numpy.typing as npt

from basso.backtest.replay import ReplayResult
from basso.backtest.stats import portfolio_stats
from basso.research.engine import chunks

__all__ = [
    "FAN_POINTS",
    "Method",
    "Outcomes",
    "TradeSequence",
    "identity_order",
    "montecarlo_parts",
    "run_orders",
    "simulate",
    "simulate_runs",
    "trade_sequence",
]

Method = Literal["shuffle", "bootstrap"]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

FAN_POINTS = 200  # equity points per run kept for the fan chart: enough for a smooth band, small to gather
FAN_RUNS = 10_000  # the fan chart's bands are drawn from the first this many runs (200 points × 4 bytes each)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeSequence:
    """A replay's closed trades as the Monte Carlo reads them, in exit-time order."""

    capital: float  # in paise
    fractions: Floats  # trade j's P&L ÷ closed equity at its entry
    entered_after: Ints  # how many trades (in exit order) had closed when trade j entered
    step_ends: Ints  # equity-path indices (1 … n) that end an exit time: where the curve is measured
    step_days: Floats  # days from the first entry to each of those exit times (0 for the start point)
    times: tuple[datetime, ...]  # the start and each exit time, for charts
    total_days: float  # first entry to the last exit or mark: how long a drawdown can last
    years: float  # the replay's period, for CAGR
    fan_points: Ints  # which curve points (0 = start) the fan chart keeps

    @property
    def trades(self) -> int:
        """How many closed trades are resampled."""
        return len(self.fractions)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcomes:
    """What runs produced, one entry per run in run order."""

    final_equity: Floats  # rupees
    cagr_pct: Floats
    max_drawdown_pct: Floats
    longest_drawdown_days: Floats
    fan: npt.NDArray[np.float32]  # runs × fan points, rupees: only runs below FAN_RUNS

    @staticmethod
    def join(parts: Sequence[Outcomes]) -> Outcomes:
        """The outcomes of consecutive chunks of runs, as one."""
        return Outcomes(
            final_equity=np.concatenate([p.final_equity for p in parts]),
            cagr_pct=np.concatenate([p.cagr_pct for p in parts]),
            max_drawdown_pct=np.concatenate([p.max_drawdown_pct for p in parts]),
            longest_drawdown_days=np.concatenate([p.longest_drawdown_days for p in parts]),
            fan=np.concatenate([p.fan for p in parts]),
        )


def trade_sequence(result: ReplayResult) -> TradeSequence:
    """The closed trades of `result` as fractions of the equity each was sized on; ValueError without any."""
    closed = result.closed
    if not closed:
        raise ValueError("the replay closed no trades: there is nothing to resample")
    stats = portfolio_stats(result)
    assert stats.start is not None
    assert stats.end is not None
    exits = [t.exit_time for t in closed]
    equity = [result.capital]  # closed equity after 0, 1, … exits, in exact Decimal rupees
    for trade in closed:
        equity.append(equity[-1] + trade.pnl)
    fractions, entered_after = [], []
    for j, trade in enumerate(closed):
        # Exits at the entry's own minute count as before it; never the trade itself or one closing after it.
        before = min(j, bisect_right(exits, trade.entry_time))
        base = equity[before]
        fractions.append(float(trade.pnl / base) if base > 0 else 0.0)
        entered_after.append(before)
    step_ends, times = [], [stats.start]
    index = 0
    for time, group in groupby(closed, key=lambda t: t.exit_time):
        index += sum(1 for _ in group)
        step_ends.append(index)
        times.append(time)
    step_days = np.array([(t - stats.start) / _DAY for t in times], dtype=np.float64)
    points = len(times)
    fan = np.unique(np.linspace(0, points - 1, min(points, FAN_POINTS)).round().astype(np.int64))
    return TradeSequence(
        capital=float(result.capital * 100),
        fractions=np.array(fractions, dtype=np.float64),
        entered_after=np.array(entered_after, dtype=np.int64),
        step_ends=np.array(step_ends, dtype=np.int64),
        step_days=step_days,
        times=tuple(times),
        total_days=(stats.end - stats.start) / _DAY,
        years=stats.years,
        fan_points=fan,
    )


def run_orders(trades: int, method: Method, seed: int, first: int, stop: int) -> Ints:
    """The trade order of runs `first` … `stop` − 1 (one row each): a permutation (shuffle) or n draws with
    replacement (bootstrap), from each run's own generator, derived from (seed, run index)."""
    rows = np.empty((stop - first, trades), dtype=np.int64)
    for row, run in enumerate(range(first, stop)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(run,)))
        rows[row] = rng.permutation(trades) if method == "shuffle" else rng.integers(0, trades, size=trades)
    return rows


def identity_order(sequence: TradeSequence) -> Ints:
    """One run in the replay's own order: its outcome is the replay's."""
    return np.arange(sequence.trades, dtype=np.int64)[None, :]


def simulate_runs(sequence: TradeSequence, method: Method, seed: int, first: int, stop: int) -> Outcomes:
    """Runs `first` … `stop` − 1: the task a worker computes for one chunk."""
    return simulate(sequence, run_orders(sequence.trades, method, seed, first, stop))


def simulate(sequence: TradeSequence, orders: Ints) -> Outcomes:
    """The outcome of each row of `orders` (runs × trades: which trade's fraction each slot takes)."""
    runs, trades = orders.shape
    taken = sequence.fractions[orders.T]  # trades × runs, so each step reads one contiguous row
    paise = np.empty((trades + 1, runs), dtype=np.float64)
    paise[0] = sequence.capital
    entered_after = sequence.entered_after.tolist()
    for j in range(trades):
        # A run that lost everything stays there: no equity, no position, no P&L.
        sized_on = np.maximum(paise[entered_after[j]], 0.0)
        paise[j + 1] = paise[j] + np.rint(taken[j] * sized_on)
    curve = paise[np.concatenate(([0], sequence.step_ends))] / 100.0  # rupees, start and after each exit time
    peak = np.maximum.accumulate(curve, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, 100.0 * (1.0 - curve / peak), 100.0)
    final = curve[-1]
    return Outcomes(
        final_equity=final,
        cagr_pct=_cagr_pct(final, sequence.capital / 100.0, sequence.years),
        max_drawdown_pct=drawdown.max(axis=0),
        longest_drawdown_days=_longest_drawdown_days(curve, peak, sequence),
        fan=curve[sequence.fan_points].T.astype(np.float32),
    )


def _cagr_pct(final: Floats, capital: float, years: float) -> Floats:
    if years <= 0:
        return np.zeros_like(final)
    with np.errstate(invalid="ignore"):
        grown = np.power(np.maximum(final, 0.0) / capital, 1.0 / years)
    return np.where(final > 0, 100.0 * (grown - 1.0), -100.0)


def _longest_drawdown_days(curve: Floats, peak: Floats, sequence: TradeSequence) -> Floats:
    # The last point at a peak, at or before each point; a drawdown under way at point g − 1 has lasted at
    # least until point g's time, whether or not g regains the peak; one still open at the end lasts till then.
    under = curve < peak
    points = np.arange(len(curve))[:, None]
    last_peak = np.maximum.accumulate(np.where(under, 0, points), axis=0)
    days = sequence.step_days
    lasted = np.where(under[:-1], days[1:, None] - days[last_peak[:-1]], 0.0)
    tail = np.where(under[-1], sequence.total_days - days[last_peak[-1]], 0.0)
    longest: Floats = np.maximum(lasted.max(axis=0, initial=0.0), tail)
    return longest


def bands(values: Floats) -> dict[str, float]:
    """The 5 %, 50 % and 95 % points of `values` (numpy's linear interpolation between order statistics)."""
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"p5": float(p5), "p50": float(p50), "p95": float(p95)}


def as_money(value: float) -> float:
    """Rupees rounded to paise for display and JSON."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"))) if math.isfinite(value) else value


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """What every worker needs for a Monte Carlo (scattered once): the sequence, the method and the seed."""

    sequence: TradeSequence
    method: Method
    seed: int


def montecarlo_parts(runs: int, workers: int) -> list[range]:
    """The tasks a Monte Carlo's runs are cut into: about four per worker, of 50 to 2,000 runs (a run takes
    microseconds: a task's few milliseconds of overhead must be shared by many)."""
    return chunks(runs, workers=workers, per_worker=4, smallest=50, largest=2000)


def run_chunk(job: Job, runs: range) -> Outcomes:
    """One task: the runs `runs` of `job` (equity paths kept for runs below FAN_RUNS only)."""
    outcomes = simulate_runs(job.sequence, job.method, job.seed, runs.start, runs.stop)
    keep = max(0, min(runs.stop, FAN_RUNS) - runs.start)
    return replace(outcomes, fan=outcomes.fan[:keep])


FIGURES: tuple[tuple[str, str, str], ...] = (
    ("final_equity", "Final equity (closed)", "money"),
    ("cagr_pct", "CAGR", "pct"),
    ("max_drawdown_pct", "Max drawdown (closed equity)", "pct"),
    ("longest_drawdown_days", "Longest drawdown (days)", "days"),
)


def summarise(
    job: Job, outcomes: Outcomes, replay: Outcomes, *, ruin_pct: float, result: ReplayResult
) -> dict[str, object]:
    """The JSON-able figures of a Monte Carlo: the replay's own, and the 5 / 50 / 95 % bands and mean of each."""
    figures: dict[str, object] = {
        "method": job.method,
        "runs": len(outcomes.final_equity),
        "seed": job.seed,
        "ruin_pct": ruin_pct,
        "sizing": result.sizing,
        "instruments": list(result.instruments),
        "capital": job.sequence.capital / 100.0,
        "trades": job.sequence.trades,
        "years": round(job.sequence.years, 4),
    }
    replayed: dict[str, float] = {}
    for key, _, kind in FIGURES:
        values: Floats = getattr(outcomes, key)
        spread = {name: _rounded(value, kind) for name, value in bands(values).items()}
        spread["mean"] = _rounded(float(values.mean()), kind)
        figures[key] = spread
        replayed[key] = _rounded(float(getattr(replay, key)[0]), kind)
    figures["replay"] = replayed
    ruined = int(np.count_nonzero(outcomes.max_drawdown_pct > ruin_pct))
    figures["runs_ruined"] = ruined
    figures["probability_of_ruin_pct"] = round(100.0 * ruined / len(outcomes.final_equity), 4)
    return figures


def _rounded(value: float, kind: str) -> float:
    return as_money(value) if kind == "money" else round(value, 4)
