"""Two `basso run` processes on one database: the one started last holds the fence and trades; the other
keeps taking webhooks, writes no outcome, and says it does not lead. (Leader election with failover is not
built yet; this is what the fence guarantees meanwhile.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from basso.embedded import EmbeddedRedis
from tests.process.conftest import running
from tests.process.test_restart import sample


async def test_the_instance_started_last_trades_and_the_older_one_writes_nothing(
        fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    async with running(fresh_database, redis_server.url, tmp_path / "a") as older, \
            running(fresh_database, redis_server.url, tmp_path / "b") as newer:
        # The older instance takes the webhook; its own pipeline finds the fence taken and stands down; the
        # newer one finds the stored signal on its sweep and processes it under its epoch.
        status, reply = await older.post(sample("BASE_ENTRY_BANK_NIFTY", "taken-by-a"))
        assert (status, reply["status"]) == (200, "accepted")
        record = await asyncio.wait_for(newer.wait_processed("taken-by-a"), 30)
        assert (record["status"], record["reason"]) == ("executed", "1 lot, risk-limited")
        assert await newer.get("/leader") == {"leader": True}
        status, reply = await newer.post(sample("BASE_ENTRY_GOLD_MINI", "taken-by-b"))
        assert (status, reply["status"]) == (200, "accepted")
        assert (await asyncio.wait_for(newer.wait_processed("taken-by-b"), 30))["status"] == "executed"
        assert await older.get("/leader") == {"leader": False}
        assert await older.terminate() == 0
        assert await newer.terminate() == 0
    assert any("another instance took over" in line for line in older.log)
    conn = await asyncpg.connect(fresh_database)
    try:
        epochs = await conn.fetch("SELECT DISTINCT epoch FROM signals WHERE outcome <> 'pending'")
        newest = await conn.fetchval("SELECT epoch FROM leader_fence")
        assert [r["epoch"] for r in epochs] == [newest]  # every outcome written under the newer epoch
        assert await conn.fetchval("SELECT count(*) FROM orders") == 2
    finally:
        await conn.close()
