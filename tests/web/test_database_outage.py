"""PostgreSQL stopped mid-stream: webhooks get 503 (TradingView resends), nothing is half-written, and once
it is back every acknowledged signal is processed exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer

from basso.config import Config
from basso.embedded import EmbeddedPostgres
from basso.http.app import build_app
from basso.http.ratelimit import RateLimiter
from basso.http.state import Services
from basso.rules.signals import signal_from_object
from basso.store.inbox import store_signal
from basso.store.migrations import migrate
from tests.conftest import server_directory
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader
from tests.replay import assert_state_equals_replay
from tests.web.conftest import NOW, SECRET
from tests.web.test_webhook import payload


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    with server_directory("basso-test-outage-") as directory:
        # Durable settings: the test crashes this server and must find every commit afterwards.
        server = EmbeddedPostgres(directory / "pg")
        await asyncio.to_thread(server.start)
        yield server
        await asyncio.to_thread(server.stop, mode="immediate")


@pytest.fixture
async def pool(own_postgres: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's own server, migrated."""
    pool = await asyncpg.create_pool(own_postgres.url, min_size=1, max_size=8)
    assert pool is not None
    async with pool.acquire() as conn:
        await migrate(conn)
    yield pool
    await pool.close()


def signal(n: int) -> bytes:
    # Alternate a Bank Nifty base entry and its exit, each a distinct signal.
    name = "BASE_ENTRY_BANK_NIFTY" if n % 2 == 0 else "EXIT_STOP_LOSS"
    return orjson.dumps(payload(name, signal_id=f"sig-{n:03d}", timestamp="2026-11-25T10:30:00"))


async def test_webhooks_get_503_while_postgres_is_down_and_nothing_is_lost_or_doubled(
    own_postgres: EmbeddedPostgres, pool: asyncpg.Pool, config: Config
) -> None:
    epoch = await solo_leader(pool, NOW)
    outcomes = Outcomes()
    pipeline = pipeline_for(pool, config, epoch, outcomes)
    services = Services(
        config=config,
        pool=pool,
        webhook_secret=SECRET,
        admin_token="a",
        wall_clock=lambda: NOW,
        limiter=RateLimiter(per_minute=10_000, clock=lambda: 0.0),
        wake_processor=pipeline.wake,
    )
    server = TestServer(build_app(services))
    await server.start_server()
    await pipeline.start()  # the gate stays closed until the first signals are stored
    acknowledged: list[str] = []
    refused: list[int] = []
    try:
        async with aiohttp.ClientSession() as session:

            async def post(n: int) -> int:
                async with session.post(server.make_url("/webhook"), data=signal(n)) as response:
                    reply = await response.json()
                    if response.status == 200:
                        acknowledged.append(reply["signal_id"])
                    return response.status

            assert [await post(n) for n in range(10)] == [200] * 10
            pipeline.open()
            await outcomes.wait_for(3)
            # A crash while the rest are being processed: in-flight transactions are lost, never half-kept.
            await asyncio.to_thread(own_postgres.stop, mode="immediate")
            for n in range(10, 16):
                status = await post(n)
                assert status == 503
                refused.append(n)
            await asyncio.to_thread(own_postgres.start)
            for n in refused:  # TradingView resends what got a 5xx
                assert await post(n) == 200
            await outcomes.wait_until_none_pending(pool)
    finally:
        await pipeline.stop()
        await server.close()
    assert len(acknowledged) == 16
    rows = await pool.fetch("SELECT key, outcome FROM signals ORDER BY id")
    assert sorted(r["key"] for r in rows) == sorted(acknowledged)  # every acknowledged signal stored once
    assert {r["outcome"] for r in rows} <= {"executed", "ignored"}
    assert await pool.fetchval("SELECT count(*) FROM orders") == 16  # 8 entries and 8 exits, none doubled
    await assert_state_equals_replay(pool, config)


async def test_after_a_postgresql_restart_a_stored_signal_still_wakes_the_leader_at_once(
    own_postgres: EmbeddedPostgres, pool: asyncpg.Pool, config: Config
) -> None:
    # No sweep: only the LISTEN connection can wake this pipeline, and the restart kills that connection.
    outcomes = Outcomes()
    pipeline = pipeline_for(pool, config, await solo_leader(pool, NOW), outcomes)
    await pipeline.start()
    pipeline.open()
    try:
        await asyncio.wait_for(pipeline.listened.wait(), 30)
        pipeline.listened.clear()
        await asyncio.to_thread(own_postgres.stop, mode="immediate")
        await asyncio.to_thread(own_postgres.start)
        await asyncio.wait_for(pipeline.listened.wait(), 30)  # a new connection listens
        other = await asyncpg.connect(own_postgres.url)  # stored as another instance would
        try:
            await store_signal(other, signal_from_object(orjson.loads(signal(0)), config))
        finally:
            await other.close()
        await asyncio.wait_for(outcomes.wait_for(1), 30)
        assert await pool.fetchval("SELECT outcome FROM signals") == "executed"
    finally:
        await pipeline.stop()
