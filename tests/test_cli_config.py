"""Every command reads `basso --config FILE` the same way, and refuses a missing or broken file alike."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from basso.cli import COMMANDS, build_parser, command_in, main

# One valid command line per command: argparse accepts each, so only the configuration can stop it.
EVERY_COMMAND = [
    ["run"],
    ["status"],
    ["kill-switch", "on"],
    ["flatten", "--yes"],
    ["capital", "deposit", "1"],
    ["migrate", "--database", "postgresql://postgres@127.0.0.1:1/none"],
    [
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
    ],
    ["contract", "--instrument", "BANK_NIFTY", "--on", "2025-12-24"],
    ["backtest", "--trades", "GOLD_MINI=tests/data/Gold_Mini_Trend_Following.csv"],
    ["send", "base_entry"],
    ["drawdown", "reset", "--reason", "a fresh start"],
    ["roll", "--dry-run"],
    ["order", "resolve", "BN-1-entry", "--filled", "0", "--reason", "not at the broker"],
    ["montecarlo", "--trades", "GOLD_MINI=tests/data/Gold_Mini_Trend_Following.csv", "--runs", "10"],
    [
        "sweep",
        "--trades",
        "GOLD_MINI=tests/data/Gold_Mini_Trend_Following.csv",
        "--bars",
        "GOLD_MINI=tests/data/Gold_Mini_daily_bars.csv",
        "--sizing",
        "basso",
        "--grid",
        "risk_pct=0.5,1",
    ],
    [
        "bars",
        "fetch",
        "--instrument",
        "BANK_NIFTY",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
        "--interval",
        "1h",
        "--out",
        "bars.csv",
    ],
]


def test_the_table_covers_every_command() -> None:
    assert {argv[0] for argv in EVERY_COMMAND} == set(COMMANDS)


def test_the_command_table_names_what_each_module_registers() -> None:
    everything = build_parser()
    assert list(sub_commands(everything)) == list(COMMANDS)
    for command, module in COMMANDS.items():
        alone = build_parser(command)
        assert command in sub_commands(alone)
        # the parser built for one command holds that module's commands, and no other module's
        assert set(sub_commands(alone)) == {name for name, owner in COMMANDS.items() if owner == module}


def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = (action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["run", "--port", "5003"], "run"),
        (["--config", "run", "status"], "status"),  # a config file named `run`
        (["--config=basso.toml", "kill-switch", "on"], "kill-switch"),
        (["--help", "run"], None),
        (["-h"], None),
        ([], None),
    ],
)
def test_the_command_is_found_past_the_global_options(argv: list[str], command: str | None) -> None:
    assert command_in(argv) == command


def test_basso_run_starts_without_the_research_libraries() -> None:
    # Dask, matplotlib and numpy cost over a second of imports on a small machine; every restart and failover would
    # pay it before Recovery could begin.
    script = (
        "import sys; from basso.cli import build_parser; build_parser('run'); import basso.server; "
        "print(sorted({'distributed', 'matplotlib', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "[]\n"


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.endswith("\n")
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.rstrip("\n")


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=lambda argv: argv[0])
def test_a_missing_config_file_is_refused_naming_it(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["--config", str(missing), *argv]) == 2
    assert one_line(capsys) == f"basso: configuration error: {missing}: cannot read: No such file or directory"


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=lambda argv: argv[0])
def test_a_config_file_that_is_not_toml_is_refused_naming_it(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 5003\n", "utf-8")
    assert main(["--config", str(broken), *argv]) == 2
    assert one_line(capsys).startswith(f"basso: configuration error: {broken}: not valid TOML: ")


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=lambda argv: argv[0])
def test_a_wrong_key_is_refused_naming_the_key(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[server]\nport = "5003"\n', "utf-8")
    assert main(["--config", str(wrong), *argv]) == 2
    assert one_line(capsys).startswith("basso: configuration error: server.port: ")


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=lambda argv: argv[0])
def test_basso_config_in_the_environment_is_read_by_every_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "from-env.toml"
    monkeypatch.setenv("BASSO_CONFIG", str(missing))
    assert main(argv) == 2
    assert one_line(capsys) == f"basso: configuration error: {missing}: cannot read: No such file or directory"


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["kill-switch", "on", "--token", "t"],
        ["flatten", "--yes", "--token", "t"],
        ["capital", "deposit", "1", "--token", "t"],
    ],
    ids=lambda argv: argv[0],
)
def test_the_server_commands_go_to_the_configured_port(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on loopback: nothing listens there, so the one line shows where the command went.
    config = tmp_path / "basso.toml"
    config.write_text('[server]\nhost = "0.0.0.0"\nport = 1\n', "utf-8")
    assert main(["--config", str(config), *argv]) == 2
    assert one_line(capsys).startswith(
        f"basso {argv[0]}: error: --url: no Basso server answered at http://127.0.0.1:1: "
    )


def test_a_real_process_refuses_a_missing_config_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    done = subprocess.run(
        [sys.executable, "-m", "basso.cli", "--config", str(missing), "status"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"basso: configuration error: {missing}: cannot read: No such file or directory\n"
