"""`basso size`: the docs/rules.md §3 examples through the command line, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from basso.cli import main

BN_50_LAKH = [
    "size",
    "--instrument",
    "BANK_NIFTY",
    "--equity",
    "5000000",
    "--price",
    "52000",
    "--stop",
    "51650",
    "--atr",
    "350",
    "--er",
    "0.82",
]


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    report: dict[str, object] = json.loads(out)
    return report


def test_json_for_the_fifty_lakh_bank_nifty_row(capsys: pytest.CaptureFixture[str]) -> None:
    # R = 25,000 ÷ 10,500 × 0.82 = 1.952; V = 25,000 ÷ 10,500 = 2.381; M = 30 L ÷ 2.7 L = 11.11 ⇒ 1 lot, risk
    report = run_json(capsys, BN_50_LAKH)
    assert (report["lots"], report["limiter"]) == (1, "risk")
    assert round(report["lot_r"], 3) == 1.952  # type: ignore[call-overload]
    assert round(report["lot_v"], 3) == 2.381  # type: ignore[call-overload]
    assert round(report["lot_m"], 2) == 11.11  # type: ignore[call-overload]
    assert (report["instrument"], report["equity"], report["stop"]) == ("BANK_NIFTY", 5_000_000, 51_650)
    assert report["reason"] == "1 lot, risk-limited"


def test_json_for_gold_mini_with_margin_used(capsys: pytest.CaptureFixture[str]) -> None:
    # E 50 L, 20 L used ⇒ M = 10 L ÷ 1,05,000 = 9.52; V = 10,000 ÷ 4,500 = 2.22 ⇒ 2 lots, volatility
    report = run_json(
        capsys,
        [
            "size",
            "--instrument",
            "gold_mini",
            "--equity",
            "5000000",
            "--price",
            "78500",
            "--stop",
            "77800",
            "--atr",
            "450",
            "--er",
            "0.85",
            "--margin-used",
            "2000000",
        ],
    )
    assert (report["lots"], report["limiter"]) == (2, "volatility")
    assert round(report["lot_m"], 2) == 9.52  # type: ignore[call-overload]


def test_ten_lakh_is_a_blocked_decision_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*BN_50_LAKH]
    argv[argv.index("5000000")] = "1000000"
    report = run_json(capsys, argv)
    assert report["lots"] == 0
    assert report["reason"] == "0 lots, risk-limited"


def test_the_table_shows_the_three_constraints_and_the_limiter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(BN_50_LAKH) == 0
    out = capsys.readouterr().out
    for text in (
        "Lot-R (risk)",
        "1.952",
        "2.381",
        "11.111",
        "risk",
        "₹50,00,000.00",
        "₹30.00 per point per lot",
        "1 lot, risk-limited",
    ):
        assert text in out


def test_historical_date_sizes_with_that_days_lot_size(capsys: pytest.CaptureFixture[str]) -> None:
    # 2024-01-15: lot 15 ⇒ R = 25,000 ÷ (350 × 15) × 0.82 = 3.905 ⇒ 3 lots
    report = run_json(capsys, [*BN_50_LAKH, "--on", "2024-01-15"])
    assert (report["point_value"], report["lots"]) == (15, 3)


def status_of(argv: list[str]) -> int:
    """The exit status of `basso ARGV`: argparse's own errors exit, the command's checks return."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--instrument", "NIFTY"), "basso size: error: --instrument: unknown instrument 'NIFTY' (known: "),
        (("--stop", "52000"), "basso size: error: --stop: must be below --price (52000), got 52000"),
        (("--atr", "0"), "basso size: error: argument --atr: must be greater than 0, got 0"),
        (("--atr", "-3"), "basso size: error: argument --atr: must be greater than 0, got -3"),
        (("--equity", "-5000000"), "basso size: error: argument --equity: must be greater than 0, got -5000000"),
        (("--price", "abc"), "basso size: error: argument --price: must be a number, got 'abc'"),
        (("--price", "inf"), "basso size: error: argument --price: must be a finite number, got 'inf'"),
        (("--er", "1.5"), "basso size: error: argument --er: must be between 0 and 1, got 1.5"),
        (("--er", "-0.1"), "basso size: error: argument --er: must be between 0 and 1, got -0.1"),
        (("--margin-used", "-1"), "basso size: error: argument --margin-used: must not be negative, got -1"),
    ],
)
def test_bad_input_is_one_line_naming_the_argument_with_status_2(
    capsys: pytest.CaptureFixture[str], change: tuple[str, str], message: str
) -> None:
    argv = [*BN_50_LAKH]
    if change[0] in argv:
        argv[argv.index(change[0]) + 1] = change[1]
    else:
        argv += change
    assert status_of(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_a_missing_stop_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in BN_50_LAKH if a not in ("--stop", "51650")]
    assert main(argv) == 2
    assert capsys.readouterr().err == "basso size: error: --stop: required (the configured stop_source is 'signal')\n"


def test_bad_input_in_a_real_process_exits_2_without_a_traceback() -> None:
    argv = [*BN_50_LAKH]
    argv[argv.index("--stop") + 1] = "53000"
    done = subprocess.run(
        [sys.executable, "-m", "basso.cli", *argv], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert done.stderr == "basso size: error: --stop: must be below --price (52000), got 53000\n"
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_real_process_prints_the_json_decision() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "basso.cli", *BN_50_LAKH, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lots"] == 1
