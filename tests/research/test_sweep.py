"""`basso sweep`: every row is the replay `basso backtest` gives for the same configuration alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from basso.cli import main
from tests.research.data import basso_inputs

# Each test starts a local Dask cluster (worker processes), seconds on a loaded two-core machine.
pytestmark = pytest.mark.timeout(240)

COMPARED = (
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

# Each grid point written by hand as the config file a trader would write for it: risk_pct sets both replayed
# instruments' initial_risk_pct, and their ongoing_risk_pct at defaults.toml's ratio 1.0 ÷ 0.5 = 2.
HAND_CONFIGS = {
    (0.5, "closed"): '[portfolio]\nequity_mode = "closed"\n',
    (0.5, "high_water"): '[portfolio]\nequity_mode = "high_water"\n',
    (1, "closed"): (
        '[portfolio]\nequity_mode = "closed"\n[instruments.GOLD_MINI]\ninitial_risk_pct = 1.0\n'
        "ongoing_risk_pct = 2.0\n[instruments.BANK_NIFTY]\ninitial_risk_pct = 1.0\nongoing_risk_pct = 2.0\n"
    ),
    (1, "high_water"): (
        '[portfolio]\nequity_mode = "high_water"\n[instruments.GOLD_MINI]\ninitial_risk_pct = 1.0\n'
        "ongoing_risk_pct = 2.0\n[instruments.BANK_NIFTY]\ninitial_risk_pct = 1.0\n"
        "ongoing_risk_pct = 2.0\n"
    ),
}


def backtest_json(capsys: pytest.CaptureFixture[str], config: Path, argv: list[str]) -> dict[str, Any]:
    assert main(["--config", str(config), "backtest", *argv, "--json"]) == 0
    figures: dict[str, Any] = json.loads(capsys.readouterr().out)
    return figures


@pytest.mark.timeout(300)
def test_each_row_equals_the_same_configuration_replayed_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [*basso_inputs(tmp_path), "--commission", "0.0005"]
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                *inputs,
                "--grid",
                "risk_pct=0.5,1",
                "equity_mode=closed,high_water",
                "--workers",
                "2",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    figures = json.loads(capsys.readouterr().out)
    rows = figures["results"]
    assert [(r["config"], r["settings"]["risk_pct"], r["settings"]["equity_mode"]) for r in rows] == [
        (0, 0.5, "closed"),
        (1, 0.5, "high_water"),
        (2, 1, "closed"),
        (3, 1, "high_water"),
    ]
    for row in rows:
        config = tmp_path / f"config{row['config']}.toml"
        config.write_text(HAND_CONFIGS[(row["settings"]["risk_pct"], row["settings"]["equity_mode"])], "utf-8")
        alone = backtest_json(capsys, config, inputs)
        assert {k: row[k] for k in COMPARED} == {k: alone[k] for k in COMPARED}, row["settings"]
        assert row["mar"] == round(alone["cagr_pct"] / alone["max_drawdown_pct"], 4)
    # The best by MAR, and its snippet is a config file that replays to the same figures.
    best = max(rows, key=lambda r: (r["mar"], -r["config"]))
    assert figures["best"] == best
    snippet = tmp_path / "best.toml"
    snippet.write_text(figures["snippet"], "utf-8")
    assert {k: backtest_json(capsys, snippet, inputs)[k] for k in COMPARED} == {k: best[k] for k in COMPARED}
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.csv", "summary.json"]
    assert json.loads((out / "summary.json").read_text()) == figures
    assert (out / "results.csv").read_text().splitlines()[0] == (
        "config,risk_pct,equity_mode,cagr_pct,max_drawdown_pct,mar,profit_factor,trades_closed,max_lots,"
        "final_equity,net_pnl,win_rate_pct,max_open_lots"
    )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--grid", "risk=1"], "--grid risk: unknown setting"),
        (
            ["--grid", "risk_pct=0"],
            "--grid risk_pct=0: instruments.BANK_NIFTY.initial_risk_pct: must be greater than 0",
        ),
        (["--grid", "risk_pct=1,2", "--heatmap", "risk_pct,vol_pct"], "--heatmap: name two different settings"),
        ([], "--grid: no settings to sweep"),
    ],
)
def test_bad_grids_are_refused_in_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    assert main(["sweep", *basso_inputs(tmp_path, count=5), *argv]) == 2
    error = capsys.readouterr().err
    assert f"basso sweep: error: {problem}" in error
    assert error.count("\n") == 1


def test_a_sweep_needs_basso_sizing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--trades", f"GOLD_MINI={tmp_path / 'x.csv'}", "--grid", "risk_pct=1"]) == 2
    assert "--sizing: a sweep tries Basso's sizing settings; add --sizing basso" in capsys.readouterr().err
