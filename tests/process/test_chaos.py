"""bench/chaos.py, shortened (45 s of chaos, seed 15): three `basso run` processes under a signal stream while the
leader is killed and paused past its lease, Redis is restarted and PostgreSQL cut; the checker finds nothing.
And the checker itself, shown to fail on a write the fence should have refused."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import asyncpg
import pytest

from basso.config import load_config
from basso.embedded import EmbeddedPostgres
from basso.store.fence import take_fence
from basso.store.migrations import migrate
from tests.chaos_check import check, start_with_commit_times
from tests.conftest import server_directory

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


@pytest.mark.timeout(600)
async def test_a_short_chaos_soak_loses_doubles_and_misfences_nothing() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHAOS),
        "--minutes",
        "0.75",
        "--seed",
        "15",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 560)
    assert out, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["checks"]["violations"] == 0, result
    assert result["passed"], (result, err.decode()[-3000:])
    assert process.returncode == 0
    # The seed's schedule starts with one fault of each kind; all four must have happened for the run to prove
    # anything. Bounds are generous: 45 s at up to 20 signals a second, less the outages, on a loaded machine.
    assert all(result["faults"][kind] >= 1 for kind in ("kill", "stop", "redis", "postgres")), result
    assert result["failovers"] >= result["faults"]["kill"] + result["faults"]["stop"], result
    assert result["signals"]["acknowledged"] >= 100, result
    assert result["signals"]["processed"] >= result["signals"]["acknowledged"], result
    assert result["checks"]["replay"] == "equal"


@pytest.mark.timeout(120)
async def test_the_checker_finds_a_write_under_an_epoch_already_superseded() -> None:
    with server_directory("basso-test-pg-commit-times-") as directory:
        postgres = EmbeddedPostgres(directory / "data", fsync=False)
        try:
            url = await start_with_commit_times(postgres)
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
            assert pool is not None
            try:
                async with pool.acquire() as conn:
                    await migrate(conn)
                    first = await take_fence(conn, "a", "test")
                    for key in ("in-time", "too-late"):
                        await conn.execute(
                            "INSERT INTO signals (key, kind, instrument, signal_time, payload)"
                            " VALUES ($1, 'MARKET_DATA', 'GOLD_MINI', now(), '{}')",
                            key,
                        )
                    settle = "UPDATE signals SET outcome = 'ignored', processed_at = now(), epoch = $2 WHERE key = $1"
                    await conn.execute(settle, "in-time", first)  # committed while `first` holds the fence
                    second = await take_fence(conn, "b", "test")
                    # A leader without its fence check: epoch `first` writes after `second` was taken.
                    await conn.execute(settle, "too-late", first)
                    # Money booked outside any transaction that recorded an epoch: unfenced.
                    await conn.execute(
                        "INSERT INTO ledger (at, kind, amount, signal, note)"
                        " SELECT now(), 'commission', -20, id, 'unfenced' FROM signals WHERE key = 'in-time'"
                    )
                results = await check(pool, ["in-time", "too-late", "never-stored"], load_config())
            finally:
                await pool.close()
        finally:
            await asyncio.to_thread(postgres.stop)
    assert second == first + 1
    assert results["stale_epoch_commits"] == 1  # "too-late" only: "in-time" committed before the take
    assert results["lost"] == 1  # "never-stored", acknowledged but absent
    assert results["unchecked_commits"] == 0
    assert results["ledger_unfenced"] == 1
    assert results["violations"] >= 3
