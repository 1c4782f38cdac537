"""Monte Carlo: the replay's own order reproduces the replay; hand-computed outcomes of every order; the
same seed gives the same runs on 1 and 2 workers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basso.backtest.replay import replay_fixed
from basso.backtest.report import summary
from basso.backtest.tradingview import read_trade_list
from basso.cli import main
from basso.config import load_config
from basso.research.montecarlo import identity_order, run_orders, simulate, trade_sequence
from tests.backtest.exports import BANK_NIFTY_EXPORT, BOTH, GOLD_EXPORT, export, trade

# Each test starts a local Dask cluster (worker processes), seconds on a loaded two-core machine.
pytestmark = pytest.mark.timeout(240)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(["montecarlo", *argv, "--json"]) == 0
    figures: dict[str, Any] = json.loads(capsys.readouterr().out)
    return figures


def three_trades(tmp_path: Path) -> Path:
    """Three Gold Mini trades one after another, 1 lot, M = 10, no commission, from ₹1,00,000:
    A: 1,000 → 2,000 = +₹10,000, +10 % of ₹1,00,000; B: 2,100 → 1,000 = −₹11,000, −10 % of ₹1,10,000;
    C: 1,990 → 1,000 = −₹9,900, −10 % of ₹99,000. The replay ends at ₹89,100."""
    path = tmp_path / "three.csv"
    path.write_text(
        export(
            trade(1, ("2024-01-01 10:00", 1000), ("2024-02-01 10:00", 2000), 1, label="ENTRY-1L"),
            trade(2, ("2024-03-01 10:00", 2100), ("2024-04-01 10:00", 1000), 1, label="ENTRY-2L"),
            trade(3, ("2024-05-01 10:00", 1990), ("2024-06-01 10:00", 1000), 1, label="ENTRY-3L"),
        ),
        "utf-8",
    )
    return path


def three_args(tmp_path: Path) -> list[str]:
    return [
        "--trades",
        f"GOLD_MINI={three_trades(tmp_path)}",
        "--multiplier",
        "GOLD_MINI=10",
        "--commission",
        "0",
        "--capital",
        "100000",
    ]


@pytest.mark.parametrize(
    "exports",
    [
        {"BANK_NIFTY": (BANK_NIFTY_EXPORT, 35.0, 0.001)},
        {"GOLD_MINI": (GOLD_EXPORT, 10.0, 0.0005), "BANK_NIFTY": (BANK_NIFTY_EXPORT, 35.0, 0.001)},
    ],
)
def test_the_replays_own_order_reproduces_the_replay_to_the_paisa(
    exports: dict[str, tuple[Path, float, float]],
) -> None:
    config = load_config()
    trades = {name: read_trade_list(path, name) for name, (path, _, _) in exports.items()}
    result = replay_fixed(
        trades,
        capital=5_000_000,
        commission=0.0,
        config=config,
        multipliers={n: m for n, (_, m, _) in exports.items()},
        commissions={n: c for n, (_, _, c) in exports.items()},
    )
    figures = summary(result)
    sequence = trade_sequence(result)
    outcome = simulate(sequence, identity_order(sequence))
    assert float(outcome.final_equity[0]) == figures["final_equity"]  # every trade books its own P&L, in paise
    assert round(float(outcome.max_drawdown_pct[0]), 4) == figures["max_drawdown_pct"]
    assert round(float(outcome.cagr_pct[0]), 4) == figures["cagr_pct"]


def test_one_shuffle_of_a_single_trade_is_the_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # One trade: its only permutation keeps the order. 1 lot × 10 × (2,000 − 1,000) = +₹10,000 on ₹1,00,000.
    path = tmp_path / "one.csv"
    path.write_text(export(trade(1, ("2024-01-01 10:00", 1000), ("2024-02-01 10:00", 2000), 1)), "utf-8")
    figures = run_json(
        capsys,
        [
            "--trades",
            f"GOLD_MINI={path}",
            "--multiplier",
            "GOLD_MINI=10",
            "--commission",
            "0",
            "--capital",
            "100000",
            "--runs",
            "1",
            "--method",
            "shuffle",
            "--seed",
            "5",
            "--workers",
            "1",
        ],
    )
    assert figures["replay"]["final_equity"] == 110_000.0
    for key in ("final_equity", "cagr_pct", "max_drawdown_pct", "longest_drawdown_days"):
        assert figures[key]["p50"] == figures["replay"][key]
    # 31 days = 31 ÷ 365.25 years: CAGR = 1.1^(365.25 ÷ 31) − 1.
    assert figures["replay"]["cagr_pct"] == round(100 * (1.1 ** (365.25 / 31) - 1), 4)
    assert figures["replay"]["max_drawdown_pct"] == 0.0


def test_every_order_of_three_trades_ends_alike_but_draws_down_differently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mc"
    figures = run_json(
        capsys,
        [*three_args(tmp_path), "--runs", "600", "--seed", "11", "--ruin", "15", "--workers", "1", "--out", str(out)],
    )
    with (out / "results.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert len(runs) == 600
    # Fractions +10 %, −10 %, −10 % in any order: 1,00,000 × 1.1 × 0.9 × 0.9 = ₹89,100.00 every time.
    assert {row["final_equity"] for row in runs} == {"89100.00"}
    # The two losses together (4 of the 6 orders): 1 − 0.9 × 0.9 = 19 % from the peak before them;
    # apart (B A C or C A B): 0.9, 0.99, 0.891 of the opening peak: 1 − 0.891 = 10.9 %.
    drawdowns = [float(row["max_drawdown_pct"]) for row in runs]
    assert {round(d, 4) for d in drawdowns} == {19.0, 10.9}
    ruined = sum(d > 15 for d in drawdowns)
    assert figures["runs_ruined"] == ruined
    assert figures["probability_of_ruin_pct"] == pytest.approx(100 * ruined / 600)
    # Each order is equally likely: 4/6 of 600 runs; three binomial standard deviations (√(600 × 2/3 × 1/3) ≈ 11.5).
    assert abs(ruined - 400) < 35
    # The replay's own order (A B C) is one of the 19 % orders; 152 days from the first entry to the last exit.
    assert figures["replay"]["final_equity"] == 89_100.0
    assert figures["replay"]["max_drawdown_pct"] == 19.0
    assert figures["replay"]["cagr_pct"] == round(100 * (0.891 ** (365.25 / 152) - 1), 4)
    # A B C: the peak of 1 Feb is not regained by the end (1 Jun): 121 days under water.
    assert figures["replay"]["longest_drawdown_days"] == 121.0
    assert (out / "report.html").exists()
    assert json.loads((out / "summary.json").read_text()) == figures


def test_bootstrap_draws_trades_again_so_the_end_can_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mc"
    run_json(
        capsys,
        [
            *three_args(tmp_path),
            "--runs",
            "300",
            "--seed",
            "3",
            "--method",
            "bootstrap",
            "--workers",
            "1",
            "--out",
            str(out),
        ],
    )
    with (out / "results.csv").open() as handle:
        finals = {row["final_equity"] for row in csv.DictReader(handle)}
    # Three draws of +10 % or −10 %: 1.1³, 1.1² × 0.9, 1.1 × 0.9², 0.9³ of ₹1,00,000; all four in 300 runs
    # (the rarest has probability 1/8 a run).
    assert finals == {"133100.00", "108900.00", "89100.00", "72900.00"}


def test_overlapping_trades_are_each_sized_on_the_equity_at_their_entry(tmp_path: Path) -> None:
    # A (Jan → Mar) +₹10,000 on ₹1,00,000 = +10 %; B enters in Feb, while A is open, on ₹1,00,000 still:
    # −₹5,000 = −5 %. Swapped, B's −5 % is taken on ₹1,00,000 (the equity at B's entry, A still open) = −₹5,000,
    # and A's +10 % lands in A's slot, also sized on ₹1,00,000: +₹10,000. The same ₹1,05,000 either way.
    path = tmp_path / "overlap.csv"
    path.write_text(
        export(
            trade(1, ("2024-01-01 10:00", 1000), ("2024-03-01 10:00", 2000), 1),
            trade(2, ("2024-02-01 10:00", 1500), ("2024-04-01 10:00", 1000), 1),
        ),
        "utf-8",
    )
    config = load_config()
    result = replay_fixed(
        {"GOLD_MINI": read_trade_list(path, "GOLD_MINI")},
        capital=100_000,
        commission=0.0,
        config=config,
        multipliers={"GOLD_MINI": 10.0},
    )
    sequence = trade_sequence(result)
    assert sequence.fractions.tolist() == [0.1, -0.05]
    assert sequence.entered_after.tolist() == [0, 0]
    swapped = simulate(sequence, np.array([[1, 0]]))
    assert swapped.final_equity.tolist() == [105_000.0]
    # Swapped: −5 % first (₹95,000, 5 % down), then +10 %: drawdown 5 %.
    assert swapped.max_drawdown_pct.tolist() == [pytest.approx(5.0)]


def test_a_runs_order_depends_on_the_seed_and_its_index_only() -> None:
    whole = run_orders(50, "shuffle", 42, 0, 10)
    assert (run_orders(50, "shuffle", 42, 4, 7) == whole[4:7]).all()
    assert not (run_orders(50, "shuffle", 43, 0, 10) == whole).all()
    assert all(sorted(row) == list(range(50)) for row in whole.tolist())


def test_one_and_two_workers_give_identical_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        outputs.append(
            (
                run_json(capsys, [*BOTH, "--runs", "3000", "--seed", "2026", "--workers", workers, "--out", str(out)]),
                (out / "results.csv").read_bytes(),
            )
        )
    (one, one_csv), (two, two_csv) = outputs
    assert one == two
    assert one_csv == two_csv
    assert one["runs"] == 3000
    assert one["final_equity"]["p5"] < one["final_equity"]["p50"] < one["final_equity"]["p95"]
    assert math.isfinite(one["probability_of_ruin_pct"])


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--runs", "0"], "--runs: must be between 1 and 1,000,000, got 0"),
        (["--ruin", "100"], "--ruin: is a drawdown in percent below 100"),
        (["--seed", "-1"], "--seed: must not be negative"),
        (["--scheduler", "localhost"], "--scheduler: must be a scheduler address such as tcp://host:8786"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["montecarlo", *three_args(tmp_path), *argv])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert problem in error
    assert error.count("\n") == 1
