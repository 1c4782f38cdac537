"""The network to PostgreSQL cut under `basso run` mid-backlog (a TCP proxy; docs/architecture.md "How the tests
prove it"): webhooks answer 503 while it is down and the senders resend them, as TradingView does; the
transactions in flight fail whole; once it is back, every acknowledged signal has exactly one outcome, one
order per fill, and positions and ledger equal a replay through the pure rules."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import asyncpg
import orjson
import redis.asyncio as aioredis

from basso.config import Config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.processes import SECRET, running
from tests.replay import assert_state_equals_replay
from tests.tcpproxy import proxy_to, through
from tests.web.test_pipeline_chaos import stream

SIGNALS = 400
SENDERS = 16
CUT_AFTER = 150  # acknowledged signals before the cut


async def test_postgresql_cut_mid_backlog_loses_and_doubles_nothing(
    fresh_database: str,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    config: Config,
) -> None:
    settings = tmp_path / "basso.toml"  # the stream's timestamps are in the past; one address sends everything
    settings.write_text("[signals]\nmax_age_s = 0\n\n[server]\nrate_limit_per_minute = 100000000\n")
    bodies = iter([orjson.dumps({**body, "secret": SECRET}) for body in stream(random.Random(11))[:SIGNALS]])
    acknowledged: list[str] = []
    refused = 0
    enough, seen_refusal, restored = asyncio.Event(), asyncio.Event(), asyncio.Event()
    restored.set()

    async with (
        proxy_to(postgres.port) as proxy,
        running(
            through(proxy.port, fresh_database), redis_server.url, tmp_path / "data", {"BASSO_CONFIG": str(settings)}
        ) as basso,
    ):

        async def sender() -> None:
            nonlocal refused
            for body in bodies:
                while True:
                    await restored.wait()  # TradingView resends a refused alert later: here, once it can land
                    status, reply = await basso.post(body)
                    if status == 200:
                        acknowledged.append(str(reply["signal_id"]))
                        if len(acknowledged) >= CUT_AFTER:
                            enough.set()
                        break
                    assert status == 503, reply  # not stored, and saying so
                    refused += 1
                    seen_refusal.set()

        senders = asyncio.gather(*(sender() for _ in range(SENDERS)))
        await asyncio.wait_for(enough.wait(), 60)
        restored.clear()
        proxy.cut()
        cut_at = len(basso.log)
        direct = await asyncpg.connect(fresh_database)  # the test's own way in, around the proxy
        try:
            backlog = await direct.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'")
        finally:
            await direct.close()
        await asyncio.wait_for(seen_refusal.wait(), 60)  # webhooks felt the cut ...
        await basso.wait_log("database unavailable", after=cut_at)  # ... and so did processing
        proxy.restore()
        restored.set()
        await asyncio.wait_for(senders, 120)
        conn = await asyncpg.connect(fresh_database)
        try:
            last = await conn.fetchval("SELECT key FROM signals ORDER BY id DESC LIMIT 1")
        finally:
            await conn.close()
        await asyncio.wait_for(basso.wait_processed(last), 120)  # in order: the last one is done last
        assert await basso.terminate() == 0

    assert refused > 0
    assert backlog > 0, "the cut came after the backlog was done: nothing was proven"
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    assert pool is not None
    try:
        rows = await pool.fetch("SELECT key, outcome FROM signals ORDER BY id")
        assert sorted(r["key"] for r in rows) == sorted(acknowledged)  # each acknowledged signal stored once
        assert all(r["outcome"] not in ("pending", "dead") for r in rows)
        await assert_state_equals_replay(pool, config)
        epochs = await pool.fetchval("SELECT count(DISTINCT epoch) FROM signals")
        assert epochs == 1  # Redis was fine throughout: one leader, one epoch
    finally:
        await pool.close()
