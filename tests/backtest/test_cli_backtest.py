"""`basso backtest`: the JSON object, the files of --out, the table, and clear refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from basso.cli import main

from .exports import BANK_NIFTY_EXPORT, GOLD_EXPORT, export, trade

GOLD = ["--trades", f"GOLD_MINI={GOLD_EXPORT}", "--multiplier", "GOLD_MINI=10", "--commission", "0.0005"]
BOTH = [
    "--trades",
    f"GOLD_MINI={GOLD_EXPORT}",
    "--trades",
    f"bank_nifty={BANK_NIFTY_EXPORT}",
    "--multiplier",
    "GOLD_MINI=10",
    "--multiplier",
    "BANK_NIFTY=35",
    "--commission",
    "0.0005",
    "--commission",
    "BANK_NIFTY=0.001",
]
REQUIRED = (
    "trades_closed",
    "trades_open",
    "winners",
    "win_rate_pct",
    "profit_factor",
    "net_pnl",
    "final_equity",
    "max_drawdown_pct",
    "max_lots",
    "cagr_pct",
)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(["backtest", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    result: dict[str, Any] = json.loads(out)
    return result


def test_json_has_the_figures_for_the_portfolio_and_each_instrument(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run_json(capsys, BOTH)
    for key in REQUIRED:
        assert key in figures
        assert key in figures["per_instrument"]["GOLD_MINI"]
        assert key in figures["per_instrument"]["BANK_NIFTY"]
    gold, bank = figures["per_instrument"]["GOLD_MINI"], figures["per_instrument"]["BANK_NIFTY"]
    assert (gold["trades_closed"], gold["winners"], gold["max_lots"]) == (371, 149, 190)
    assert (bank["trades_closed"], bank["winners"], bank["max_lots"]) == (587, 286, 395)
    assert gold["max_drawdown_pct"] == pytest.approx(17.54, abs=0.01)
    assert bank["max_drawdown_pct"] == pytest.approx(28.26, abs=0.01)
    assert figures["net_pnl"] == pytest.approx(gold["net_pnl"] + bank["net_pnl"], abs=0.005)
    assert figures["final_equity"] == pytest.approx(5_000_000 + figures["net_pnl"], abs=0.005)
    assert figures["trades_closed"] == 958
    assert figures["sizing"] == "fixed"


def test_export_pnl_mode_gives_the_column_totals(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run_json(capsys, [*GOLD, "--pnl", "export"])
    assert figures["net_pnl"] == 30603208.39
    assert figures["profit_factor"] == pytest.approx(1.885, abs=0.001)


def test_out_writes_the_four_files_and_summary_json_matches_the_printed_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = run_json(capsys, [*GOLD, "--out", str(tmp_path / "run")])
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["equity.csv", "report.html", "summary.json", "trades.csv"]
    assert json.loads((run / "summary.json").read_text()) == figures
    with (run / "trades.csv").open() as handle:
        trades = list(csv.DictReader(handle))
    assert len(trades) == 371
    assert (trades[0]["instrument"], trades[0]["position"]) == ("GOLD_MINI", "Long_1")
    with (run / "equity.csv").open() as handle:
        equity = list(csv.DictReader(handle))
    assert float(equity[-1]["closed_equity"]) == figures["final_equity"]
    assert max(float(row["drawdown_pct"]) for row in equity) == pytest.approx(figures["max_drawdown_pct"], abs=1e-4)


def test_without_json_prints_a_table_with_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", *GOLD]) == 0
    out = capsys.readouterr().out
    for shown in ("Net P&L", "₹3,06,03,208.75", "40.16 %", "17.54 %"):
        assert shown in out


def test_default_commission_comes_from_the_paper_broker_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # paper.commission_pct = 0.05 (percent) ⇒ c = 0.0005: 2 × 10 × 500 − 0.0005 × 10 × 2 × 140,500 = 8,595.
    path = tmp_path / "gold.csv"
    path.write_text(export(trade(1, ("2024-01-02 10:00", 70000.0), ("2024-01-05 10:00", 70500.0), 2)), "utf-8")
    figures = run_json(capsys, ["--trades", f"GOLD_MINI={path}"])
    assert figures["net_pnl"] == 8595.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trades", "COFFEE=x.csv"], "--trades: unknown instrument 'COFFEE'"),
        (
            ["--trades", f"GOLD_MINI={GOLD_EXPORT}", "--trades", f"gold_mini={GOLD_EXPORT}"],
            "--trades: GOLD_MINI is given twice",
        ),
        (["--trades", "GOLD_MINI=/no/such/file.csv"], "--trades: /no/such/file.csv: cannot read"),
        ([*GOLD, "--multiplier", "BANK_NIFTY=35"], "--multiplier: BANK_NIFTY has no --trades file"),
        (
            ["--trades", f"GOLD_MINI={GOLD_EXPORT}", "--multiplier", "GOLD_MINI=-3"],
            "--multiplier: must be greater than 0",
        ),
        ([*GOLD, "--commission", "0.001"], "--commission: a commission for every instrument is given twice"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trades", "GOLD_MINI"], "argument --trades: expected INSTRUMENT=VALUE"),
        (["--trades", "GOLD_MINI=x", "--commission", "1.5"], "argument --commission: is a fraction of notional"),
        (["--trades", "GOLD_MINI=x", "--capital", "0"], "argument --capital: must be greater than 0"),
        (["--trades", "GOLD_MINI=x", "--sizing", "kelly"], "argument --sizing: invalid choice"),
        (["--trades", "GOLD_MINI=x", "--atr-period", "0"], "argument --atr-period: must be at least 1"),
    ],
)
def test_malformed_options_exit_2_naming_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backtest", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_malformed_export_is_refused_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    good = export(trade(1, ("2024-01-02 10:00", 100.0), ("2024-01-03 10:00", 110.0), 2))
    path.write_text(good.replace("2024-01-02 10:00", "yesterday"), "utf-8")
    assert main(["backtest", "--trades", f"GOLD_MINI={path}"]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 3: Date/Time must be YYYY-MM-DD HH:MM, got 'yesterday'" in err


# Basso sizing from the command line: the hand-worked trend of test_basso_replay (ATR(1) = 100 on every bar,
# no commission): base 10 lots at 78,500, pyramid 5 lots at 78,700, both stopped out at 78,550 by bar 12.
TREND = [78500, 78500, 78550, 78600, 78650, 78700, 78750, 78800, 78750, 78700, 78650, 78600, 78550, 78500]


def trend_files(tmp_path: Path) -> tuple[Path, Path]:
    bars = tmp_path / "bars.csv"
    rows = [f"2024-01-02 {9 + i:02d}:00,{TREND[max(i - 1, 0)]},{c + 50},{c - 50},{c}" for i, c in enumerate(TREND)]
    bars.write_text("timestamp,open,high,low,close\n" + "\n".join(rows), "utf-8")
    trades = tmp_path / "gold.csv"
    trades.write_text(
        export(
            trade(1, ("2024-01-02 11:00", 78500.0), ("2024-01-02 22:00", 78500.0), 40),
            trade(2, ("2024-01-02 15:00", 78700.0), ("2024-01-02 22:00", 78500.0), 20, label="PYR1-20L"),
        ),
        "utf-8",
    )
    return trades, bars


def test_basso_sizing_replays_the_export_over_bars_with_the_live_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trades, bars = trend_files(tmp_path)
    figures = run_json(
        capsys,
        [
            "--trades",
            f"GOLD_MINI={trades}",
            "--bars",
            f"GOLD_MINI={bars}",
            "--sizing",
            "basso",
            "--atr-period",
            "1",
            "--commission",
            "0",
        ],
    )
    assert figures["sizing"] == "basso"
    # 10 lots and 5 lots instead of the strategy's 40 and 20; closed by Basso's stops before the strategy's exits.
    assert (figures["trades_closed"], figures["max_lots"], figures["max_open_lots"]) == (2, 10, 15)
    assert figures["net_pnl"] == -2500.0  # 50 × 10 × 10 − 150 × 5 × 10
    assert "EXIT: ignored: 2" in figures["notes"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--sizing basso needs --bars for GOLD_MINI: TradingView exports carry no stop or ATR"),
        (
            ["--bars", "GOLD_MINI=BARS", "--multiplier", "GOLD_MINI=10"],
            "--multiplier: Basso sizing uses the configured",
        ),
        (["--bars", "GOLD_MINI=BARS", "--commission", "GOLD_MINI=0.001"], "--commission: Basso sizing fills through"),
        (
            ["--bars", "GOLD_MINI=BARS", "--pnl", "export"],
            "--pnl export: TradingView's P&L is for the strategy's own lots",
        ),
        (["--bars", "BANK_NIFTY=BARS"], "--bars: BANK_NIFTY has no --trades file"),
    ],
)
def test_basso_sizing_refuses_what_it_cannot_use(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trades, bars = trend_files(tmp_path)
    argv = [
        "backtest",
        "--trades",
        f"GOLD_MINI={trades}",
        "--sizing",
        "basso",
        *(arg.replace("BARS", str(bars)) for arg in extra),
    ]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bars_without_basso_sizing_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades, bars = trend_files(tmp_path)
    assert main(["backtest", "--trades", f"GOLD_MINI={trades}", "--bars", f"GOLD_MINI={bars}"]) == 2
    assert "--bars: bars drive Basso's stops and sizing; add --sizing basso" in capsys.readouterr().err


def test_malformed_bars_are_refused_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades, bars = trend_files(tmp_path)
    bars.write_text(bars.read_text().replace("78550,78450,78500", "78550,78450,78600", 1), "utf-8")
    assert (
        main(["backtest", "--trades", f"GOLD_MINI={trades}", "--bars", f"GOLD_MINI={bars}", "--sizing", "basso"]) == 2
    )
    assert f"--bars: {bars}, line 2: needs low ≤ open, close ≤ high" in capsys.readouterr().err
