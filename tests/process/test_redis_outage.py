"""Redis stopped under a running leader (docs/architecture.md "Leadership timing"): the leader stops trading at its
renewal deadline, webhooks are still stored, and when Redis is back the instance leads again under a new epoch
and trades what was stored meanwhile. The test has a Redis server of its own, stopped and restarted on its port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from basso.embedded import EmbeddedRedis
from tests.process.test_restart import sample
from tests.process.test_takeover import facts, lead, traded
from tests.processes import running


async def test_without_redis_nobody_trades_and_nothing_is_lost(fresh_database: str, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    await asyncio.to_thread(redis.start)
    try:
        async with running(fresh_database, redis.url, tmp_path / "a") as basso:
            first_epoch = await lead(basso)
            await traded(basso, "before-outage", "BASE_ENTRY_BANK_NIFTY")

            stopped = len(basso.log)
            await asyncio.to_thread(redis.stop)
            await basso.wait_log("no longer leading", after=stopped)
            assert await basso.get("/leader") == {"leader": False}
            status, reply = await basso.post(sample("BASE_ENTRY_GOLD_MINI", "during-outage"))
            assert (status, reply["status"]) == (200, "accepted")  # stored: PostgreSQL is up
            assert (await basso.get("/api/signals/during-outage"))["status"] == "pending"  # and not traded

            back = len(basso.log)
            await asyncio.to_thread(redis.start)  # the same port: the instance reconnects by itself
            second_epoch = await lead(basso, after=back)
            record = await asyncio.wait_for(basso.wait_processed("during-outage"), 30)
            assert record["status"] == "executed"
            assert await basso.terminate() == 0
    finally:
        await asyncio.to_thread(redis.stop)
    signals, orders, history = await facts(fresh_database)
    assert second_epoch == first_epoch + 1
    assert signals == {"before-outage": ("executed", first_epoch), "during-outage": ("executed", second_epoch)}
    assert orders == 2
    assert history == [
        (first_epoch, "gained"),
        (first_epoch, "lost"),
        (second_epoch, "gained"),
        (second_epoch, "released"),
    ]
    conn = await asyncpg.connect(fresh_database)
    try:
        reason = await conn.fetchval("SELECT reason FROM leadership_history WHERE event = 'lost'")
    finally:
        await conn.close()
    assert reason.startswith("no lease renewal acknowledged within 2 s")
