"""`basso bars fetch` against the fake OpenAlgo's `history` endpoint on a real socket: the request OpenAlgo's
schema takes, the candles written as the CSV `--bars` reads, and one-line refusals."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from basso.backtest.bars import read_bars
from basso.cli import main
from basso.timeutil import IST

from .fake_openalgo import FakeOpenAlgo

# The default symbol needs the exchange calendar, whose first use (the holidays package) is slow on a loaded machine.
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def gateway() -> AsyncIterator[FakeOpenAlgo]:
    fake = FakeOpenAlgo()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def candle(
    day: int, hour: int, open_: float, high: float, low: float, close: float, volume: int = 100
) -> dict[str, Any]:
    """A candle as OpenAlgo's broker modules return it: the open time in Unix seconds."""
    stamp = int(datetime(2025, 12, day, hour, 15, tzinfo=IST).timestamp())
    return {"timestamp": stamp, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


CANDLES = [
    candle(22, 9, 59000, 59200, 58900, 59100),
    candle(22, 10, 59100, 59300, 59050, 59250),
    candle(23, 9, 59250, 59400, 59000, 59050),
    candle(24, 9, 59050, 59100, 58800, 58900),
]


async def fetch(gateway: FakeOpenAlgo, *argv: str) -> int:
    # The command runs its own event loop, so it runs on a thread while the fake serves on this one.
    status: int = await asyncio.to_thread(
        main, ["bars", "fetch", "--url", gateway.url, "--api-key", gateway.api_key, *argv]
    )
    return status


async def test_fetched_candles_become_the_bars_the_backtest_reads(
    gateway: FakeOpenAlgo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2025-12-24 is fewer than 7 days before the December expiry (the 30th), so the contract is January's
    # (`basso contract --on 2025-12-24` names BANKNIFTY27JAN26FUT).
    gateway.set_history("BANKNIFTY27JAN26FUT", "NFO", "1h", CANDLES)
    out = tmp_path / "bn_1h.csv"
    assert (
        await fetch(
            gateway,
            "--instrument",
            "bank_nifty",
            "--from",
            "2025-12-22",
            "--to",
            "2025-12-24",
            "--interval",
            "1h",
            "--out",
            str(out),
        )
        == 0
    )
    assert gateway.sent("history") == [
        {
            "apikey": gateway.api_key,
            "symbol": "BANKNIFTY27JAN26FUT",
            "exchange": "NFO",
            "interval": "1h",
            "start_date": "2025-12-22",
            "end_date": "2025-12-24",
        }
    ]
    assert capsys.readouterr().out == (
        f"wrote 4 bars of BANKNIFTY27JAN26FUT (NFO, 1h) from 2025-12-22 09:15 to 2025-12-24 09:15 to {out}\n"
    )
    bars = read_bars(out, "BANK_NIFTY")
    assert [bars.time_of(i).strftime("%d %H:%M") for i in range(4)] == ["22 09:15", "22 10:15", "23 09:15", "24 09:15"]
    assert bars.closes == [59100.0, 59250.0, 59050.0, 58900.0]
    assert out.read_text().splitlines()[1] == "2025-12-22T09:15:00+05:30,59000.0,59200.0,58900.0,59100.0,100"


async def test_symbol_and_exchange_can_name_another_series(
    gateway: FakeOpenAlgo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.set_history("BANKNIFTY", "NSE_INDEX", "D", CANDLES[:2])
    out = tmp_path / "index.csv"
    assert (
        await fetch(
            gateway,
            "--instrument",
            "BANK_NIFTY",
            "--symbol",
            "BANKNIFTY",
            "--exchange",
            "NSE_INDEX",
            "--from",
            "2025-12-22",
            "--to",
            "2025-12-22",
            "--interval",
            "D",
            "--out",
            str(out),
        )
        == 0
    )
    assert len(read_bars(out, "BANK_NIFTY")) == 2
    capsys.readouterr()


@pytest.mark.parametrize(
    ("candles", "argv", "problem"),
    [
        (
            None,
            [],
            "BANKNIFTY27JAN26FUT (NFO): OpenAlgo history: HTTP 500: Symbol BANKNIFTY27JAN26FUT not found for exchange NFO",
        ),
        ([], [], "history: no candles for BANKNIFTY27JAN26FUT on NFO from 2025-12-22 to 2025-12-24 at 1h"),
        (
            [CANDLES[1], CANDLES[0]],
            [],
            "history: candle 2 of the reply: timestamp 2025-12-22T09:15:00+05:30 is not after",
        ),
        ([{**CANDLES[0], "low": 59150}], [], "history: candle 1 of the reply: needs low ≤ open, close ≤ high"),
        ([{**CANDLES[0], "close": None}], [], "history: candle 1 of the reply: close must be a number, got None"),
        (CANDLES, ["--api-key", "wrong"], "HTTP 403: Invalid openalgo apikey"),
    ],
)
async def test_a_bad_reply_is_refused_in_one_line_and_nothing_is_written(
    gateway: FakeOpenAlgo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    candles: list[dict[str, Any]] | None,
    argv: list[str],
    problem: str,
) -> None:
    if candles is not None:
        gateway.set_history("BANKNIFTY27JAN26FUT", "NFO", "1h", candles)
    out = tmp_path / "bars.csv"
    assert (
        await fetch(
            gateway,
            "--instrument",
            "BANK_NIFTY",
            "--from",
            "2025-12-22",
            "--to",
            "2025-12-24",
            "--interval",
            "1h",
            "--out",
            str(out),
            *argv,
        )
        == 2
    )
    error = capsys.readouterr().err
    assert problem in error
    assert error.count("\n") == 1
    assert not os.listdir(tmp_path)  # no bars file, and no partial one beside it


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--from", "2025-12-24", "--to", "2025-12-22"], "--to: 2025-12-22 is before --from 2025-12-24"),
        (
            ["--from", "2025-12-22", "--to", "2025-12-24", "--instrument", "ZINC"],
            "--instrument: unknown instrument 'ZINC'",
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    argv: list[str], problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "bars",
        "fetch",
        "--instrument",
        "BANK_NIFTY",
        "--interval",
        "1h",
        "--out",
        str(tmp_path / "x.csv"),
        "--url",
        "http://127.0.0.1:9",
        "--api-key",
        "k",
    ]
    assert main([*base, *argv]) == 2
    assert problem in capsys.readouterr().err


def test_an_api_key_is_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASSO_OPENALGO_API_KEY", raising=False)
    monkeypatch.delenv("OPENALGO_API_KEY", raising=False)
    monkeypatch.delenv("OPENALGO_URL", raising=False)
    assert main(["bars", "fetch", *WEEK, "--out", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err == (
        "basso bars: error: --api-key: give OpenAlgo's API key in the environment variable BASSO_OPENALGO_API_KEY\n"
    )
    assert not (tmp_path / "x.csv").exists()


WEEK = ["--instrument", "BANK_NIFTY", "--from", "2025-12-22", "--to", "2025-12-24", "--interval", "1h"]


async def test_the_key_and_the_gateway_are_the_ones_basso_run_uses(
    gateway: FakeOpenAlgo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No --url, no --api-key: the key from BASSO_OPENALGO_API_KEY (as `basso run` reads it), the gateway from the
    # configuration's [broker] url (as `basso run` uses it), named by the global --config.
    gateway.set_history("BANKNIFTY27JAN26FUT", "NFO", "1h", CANDLES)
    settings = tmp_path / "basso.toml"
    settings.write_text(f'[broker]\nurl = "{gateway.url}"\n', "utf-8")
    monkeypatch.setenv("BASSO_OPENALGO_API_KEY", gateway.api_key)
    monkeypatch.setenv("OPENALGO_API_KEY", "an-old-key")  # no longer read: the fake would refuse it (403)
    monkeypatch.setenv("OPENALGO_URL", "http://127.0.0.1:9")  # no longer read: nothing serves there
    out = tmp_path / "bn_1h.csv"
    argv = ["--config", str(settings), "bars", "fetch", *WEEK, "--out", str(out)]
    assert await asyncio.to_thread(main, argv) == 0
    assert [body["apikey"] for body in gateway.sent("history")] == [gateway.api_key]
    assert capsys.readouterr().out.startswith("wrote 4 bars of BANKNIFTY27JAN26FUT (NFO, 1h)")
    assert read_bars(out, "BANK_NIFTY").closes == [59100.0, 59250.0, 59050.0, 58900.0]


@pytest.mark.parametrize(
    ("variable", "problem"),
    [
        ("OPENALGO_API_KEY", "OPENALGO_API_KEY is no longer read: put OpenAlgo's API key in BASSO_OPENALGO_API_KEY"),
        (
            "OPENALGO_URL",
            "OPENALGO_URL is no longer read: set url under [broker] in the configuration, or give --url",
        ),
    ],
)
def test_the_variables_of_earlier_versions_are_named_not_ignored(
    variable: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the variable under test is set (BASSO_OPENALGO_API_KEY stands in for the key when the URL is tested);
    # nothing listens at port 9, so a request would fail differently: the refusal comes before any.
    monkeypatch.delenv("BASSO_CONFIG", raising=False)
    monkeypatch.delenv("OPENALGO_URL", raising=False)
    monkeypatch.delenv("OPENALGO_API_KEY", raising=False)
    if variable == "OPENALGO_URL":
        monkeypatch.setenv("BASSO_OPENALGO_API_KEY", "a-key")
    else:
        monkeypatch.delenv("BASSO_OPENALGO_API_KEY", raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:9" if variable == "OPENALGO_URL" else "an-old-key")
    assert main(["bars", "fetch", *WEEK, "--out", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err == f"basso bars: error: {problem}\n"
