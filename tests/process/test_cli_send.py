"""`basso send` against a real `basso run`: a fresh timestamp, the secret from the environment or the data
directory, the configured port, the outcome printed with its numbers, and one line for every refusal."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from basso.embedded import EmbeddedRedis
from tests.processes import SECRET, running


async def send(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basso.cli",
        "send",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BASSO_WEBHOOK_SECRET", "BASSO_CONFIG")}
    return {**env, **extra}


@pytest.mark.timeout(300)  # eight `basso` processes, each importing the package, on a shared 2-core machine
async def test_basso_send_delivers_a_fresh_signal_and_prints_its_outcome(
    fresh_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with running(fresh_database, redis_server.url, tmp_path / "server") as instance:
        port = instance.url.rsplit(":", 1)[1]
        config = tmp_path / "basso.toml"
        config.write_text(f"[server]\nport = {port}\n", encoding="utf-8")
        env = clean_env(BASSO_WEBHOOK_SECRET=SECRET, BASSO_CONFIG=str(config))  # the port from the config file

        before = datetime.now(UTC)
        status, out, err = await send("base_entry", "--id", "cli-1", env=env)
        # The sample: E ₹50 L, price 52,000, stop 51,650, ATR 350, ER 0.82, pv 30 (docs/rules.md §3):
        # Lot-R = 25,000 ÷ 10,500 × 0.82 = 1.95; Lot-V = 25,000 ÷ 10,500 = 2.38; Lot-M = 30,00,000 ÷ 2,70,000 = 11.11.
        assert (status, err) == (0, "")
        assert out == "cli-1: accepted, executed: 1 lot, risk-limited (Lot-R 1.95, Lot-V 2.38, Lot-M 11.11)\n"
        stored = await instance.get("/api/signals/cli-1")
        stamped = datetime.fromisoformat(stored["payload"]["timestamp"].replace("Z", "+00:00"))
        assert before.replace(microsecond=0) <= stamped <= datetime.now(UTC)  # stamped when it was sent
        assert "secret" not in stored["payload"]

        # The same id again is TradingView's resend: a duplicate, answered with the outcome already stored.
        status, out, _ = await send("base_entry", "--id", "cli-1", env=env)
        assert (status, out) == (
            0,
            "cli-1: duplicate, executed: 1 lot, risk-limited (Lot-R 1.95, Lot-V 2.38, Lot-M 11.11)\n",
        )

        # An exit of a layer that is not open is an ordinary, stored outcome.
        status, out, _ = await send("exit", "--position", "Long_3", "--price", "52100", "--id", "cli-2", env=env)
        assert (status, out) == (0, "cli-2: accepted, ignored: BANK_NIFTY Long_3 is not open: nothing to exit\n")

        # What the server refuses is one line naming the field, exit status 1; nothing is stored.
        status, out, err = await send("pyramid", "--stop", "53000", "--id", "cli-3", env=env)
        assert (status, out) == (1, "")
        assert err == (
            "basso send: the server refused the signal (400): stop: stop must be below price for a long "
            "entry, got stop 53000 ≥ price 52200\n"
        )
        status, _, err = await send(
            "base_entry", "GOLD_MINI", "--id", "cli-4", env={**env, "BASSO_WEBHOOK_SECRET": "not the secret"}
        )
        assert status == 1
        assert err.startswith("basso send: the server refused the webhook secret (401)")
        assert err.count("\n") == 1

        # Without $BASSO_WEBHOOK_SECRET the secret comes from the data directory `basso run` generated it in.
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        (data_dir / "webhook-secret").write_text(SECRET + "\n", encoding="utf-8")
        status, out, _ = await send(
            "base_entry",
            "GOLD_MINI",
            "--data-dir",
            str(data_dir),
            "--id",
            "cli-5",
            "--url",
            instance.url,
            env=clean_env(),
        )
        # The Gold Mini sample: closed equity 50,00,000 − 780 (the Bank Nifty fill's commission, 52,000 × 30 ×
        # 0.05 %) = 49,99,220. The ignored EXIT cli-2 at 52,100 marked the open Bank Nifty layer (docs/rules.md §2:
        # every valid signal's price marks, exits included): unrealised (52,100 − 52,000) × 1 × 30 = 3,000, blended
        # half of it, so E = 50,00,720. Lot-V = 50,00,720 × 0.2 % ÷ (500 × 10) = 2.0003 binds;
        # Lot-R = 50,00,720 × 0.5 % ÷ (500 × 10) × 0.75 = 3.75; Lot-M = (60 % × 50,00,720 − 2,70,000) ÷ 1,05,000
        # = 26.004 ⇒ 2 lots.
        assert (status, out) == (
            0,
            "cli-5: accepted, executed: 2 lots, volatility-limited (Lot-R 3.75, Lot-V 2.00, Lot-M 26.00)\n",
        )


async def test_basso_send_without_a_secret_says_where_it_looked(tmp_path: Path) -> None:
    status, out, err = await send("base_entry", "--data-dir", str(tmp_path), env=clean_env())
    assert (status, out) == (2, "")
    assert err == (
        f"basso send: error: --data-dir: BASSO_WEBHOOK_SECRET is unset and {tmp_path}/webhook-secret "
        "cannot be read (start `basso run` first, or run this where it keeps its data directory)\n"
    )


async def test_basso_send_with_no_server_says_so_in_one_line(tmp_path: Path) -> None:
    status, _, err = await send("base_entry", "--url", "http://127.0.0.1:9", env=clean_env(BASSO_WEBHOOK_SECRET="x"))
    assert status == 2
    assert err.startswith("basso send: error: --url: no Basso server answered at http://127.0.0.1:9")
    assert err.count("\n") == 1
