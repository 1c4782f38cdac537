"""`basso contract`: the contract an entry on a date goes into, as JSON or a table; bad input is one line, status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from basso.cli import main


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shipped defaults, whatever the developer's shell exports.
    monkeypatch.delenv("BASSO_CONFIG", raising=False)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0
    out = capsys.readouterr().out
    report: dict[str, object] = json.loads(out)
    return report


def test_bank_nifty_six_days_before_december_expiry_enters_january(capsys: pytest.CaptureFixture[str]) -> None:
    # 24 Dec 2025 → Tue 30 Dec is 6 days away, fewer than 7 → the next: last Tuesday of Jan 2026 = 27 Jan
    # (the Mon 26 Jan holiday does not touch it), 7 + 27 = 34 days away.
    assert run_json(capsys, ["contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-24", "--json"]) == {
        "instrument": "BANK_NIFTY",
        "expiry": "2026-01-27",
        "symbol": "BANKNIFTY27JAN26FUT",
        "days_to_expiry": 34,
        "nearest_expiry": "2025-12-30",
        "nearest_skipped": True,
    }


def test_bank_nifty_seven_days_before_expiry_stays_in_december(capsys: pytest.CaptureFixture[str]) -> None:
    # The instrument name is case-insensitive; 23 Dec → 30 Dec = 7 days: not fewer than 7.
    assert run_json(capsys, ["contract", "--instrument", "bank_nifty", "--on", "2025-12-23", "--json"]) == {
        "instrument": "BANK_NIFTY",
        "expiry": "2025-12-30",
        "symbol": "BANKNIFTY30DEC25FUT",
        "days_to_expiry": 7,
        "nearest_expiry": "2025-12-30",
        "nearest_skipped": False,
    }


def test_gold_mini_on_new_years_eve_enters_the_february_contract(capsys: pytest.CaptureFixture[str]) -> None:
    # 31 Dec 2025 → Mon 5 Jan 2026 is 5 days away, fewer than 8 → Thu 5 Feb 2026, 36 days away.
    report = run_json(capsys, ["contract", "--instrument", "GOLD_MINI", "--on", "2025-12-31", "--json"])
    assert report["symbol"] == "GOLDM05FEB26FUT"
    assert (report["expiry"], report["days_to_expiry"], report["nearest_skipped"]) == ("2026-02-05", 36, True)


def test_without_json_a_readable_table_says_why_the_next_contract_was_chosen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-24"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "instrument      BANK_NIFTY",
        "entry on        2025-12-24",
        "expiry          2026-01-27 (Tue)",
        "symbol          BANKNIFTY27JAN26FUT",
        "days to expiry  34",
        "goes into       the next contract: the nearest expires 2025-12-30, only 6 days away, inside the 7-day roll window",
    ]


def test_the_table_says_when_the_nearest_contract_is_the_one(capsys: pytest.CaptureFixture[str]) -> None:
    # 23 Dec 2025 → Tue 30 Dec is 7 days away: not fewer than 7, so the nearest.
    assert main(["contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-23"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "goes into       the nearest contract: 7 days to expiry, outside the 7-day roll window"
    )


def test_a_users_holiday_moves_the_expiry_the_command_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "basso.toml"
    config.write_text('[calendars.NSE]\nextra_holidays = ["2025-12-30"]\n', "utf-8")
    # 30 Dec closed → Mon 29 Dec, 6 days after the 23rd → fewer than 7 → January.
    report = run_json(
        capsys, ["--config", str(config), "contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-23", "--json"]
    )
    assert (report["expiry"], report["nearest_skipped"]) == ("2026-01-27", True)


def test_an_unknown_instrument_is_one_line_naming_the_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--instrument", "CRUDE", "--on", "2025-12-24"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "basso contract: error: --instrument: unknown instrument 'CRUDE' "
        "(known: BANK_NIFTY, COPPER, GOLD_MINI, SILVER_MINI)\n"
    )


@pytest.mark.parametrize("bad", ["2025-13-01", "24-12-2025", "tomorrow", ""])
def test_a_bad_date_is_one_line_naming_the_argument(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["contract", "--instrument", "BANK_NIFTY", "--on", bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"argument --on: must be a date YYYY-MM-DD, got {bad!r}" in err


def test_a_date_no_broker_symbol_can_name_is_refused_naming_the_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--instrument", "GOLD_MINI", "--on", "2099-12-29"]) == 2
    # 29 Dec 2099 → 5 Jan 2100 is in the window, and its contract's year 2100 has no two-digit form.
    assert capsys.readouterr().err == (
        "basso contract: error: --on: expiry 2100-02-05: a two-digit year only names 2000-2099\n"
    )


def test_the_last_dates_of_the_calendar_are_refused_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--instrument", "GOLD_MINI", "--on", "9999-12-29"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("basso contract: error: --on: GOLD_MINI: no expiry within 36 months of ")
    assert err.count("\n") == 1


def test_an_unknown_market_in_the_users_calendar_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "basso.toml"
    config.write_text('[calendars.NSE]\nfinancial_calendar = "XLON2"\n', "utf-8")
    assert main(["--config", str(config), "contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-24"]) == 2
    assert capsys.readouterr().err.startswith(
        "basso: configuration error: calendars.NSE.financial_calendar: the holidays package has no market 'XLON2'"
    )


def test_a_real_process_exits_2_on_an_unknown_instrument_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "basso.cli", "contract", "--instrument", "CRUDE", "--on", "2025-12-24"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("basso contract: error: --instrument: unknown instrument 'CRUDE'")
    assert done.stdout == ""


def test_a_real_process_prints_the_json_contract() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "basso.cli", "contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-24", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["symbol"] == "BANKNIFTY27JAN26FUT"
