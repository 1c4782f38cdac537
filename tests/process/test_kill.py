"""`basso run` killed outright (SIGKILL) while it works through a backlog loses nothing and doubles nothing:
after a restart every acknowledged signal has exactly one outcome, and positions and ledger equal a replay of
the same signals through the pure rules."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import asyncpg
import orjson
import redis.asyncio as aioredis

from basso.config import Config
from basso.embedded import EmbeddedRedis
from tests.processes import SECRET, running
from tests.replay import assert_state_equals_replay
from tests.web.test_pipeline_chaos import stream

SIGNALS = 600
SENDERS = 32


async def test_a_killed_process_loses_and_doubles_nothing(
    fresh_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path, config: Config
) -> None:
    # The stream's timestamps are fixed in the past: no maximum age; all load comes from one address.
    settings = tmp_path / "basso.toml"
    settings.write_text("[signals]\nmax_age_s = 0\n\n[server]\nrate_limit_per_minute = 100000000\n")
    env = {"BASSO_CONFIG": str(settings)}
    bodies = [orjson.dumps({**body, "secret": SECRET}) for body in stream(random.Random(7))[:SIGNALS]]
    queue = iter(bodies)
    acknowledged: list[str] = []

    async with running(fresh_database, redis_server.url, tmp_path / "data", env) as first:

        async def sender() -> None:
            for body in queue:
                status, reply = await first.post(body)
                assert status == 200, reply
                acknowledged.append(reply["signal_id"])

        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        first.process.kill()  # no warning, whatever is in flight
        await first.process.wait()

    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    assert pool is not None
    try:
        left = await pool.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'")
        assert left > 0, "the kill came after the backlog was done: nothing was proven"
        async with running(fresh_database, redis_server.url, tmp_path / "data", env) as second:
            last = await pool.fetchval("SELECT key FROM signals ORDER BY id DESC LIMIT 1")
            await asyncio.wait_for(second.wait_processed(last), 120)  # in order: the last one is done last
            assert await second.terminate() == 0
        rows = await pool.fetch("SELECT key, outcome FROM signals ORDER BY id")
        assert sorted(r["key"] for r in rows) == sorted(acknowledged)
        assert all(r["outcome"] not in ("pending", "dead") for r in rows)
        await assert_state_equals_replay(pool, config)
    finally:
        await pool.close()
