"""`basso.server.serve` in this process, over the session's real PostgreSQL and Redis: readiness tells the
truth about Recovery, and start-up gives back what it took when a later step fails."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from basso.config import Config
from basso.embedded import EmbeddedRedis, free_port
from basso.server import RunOptions, serve
from basso.store.pools import MAIN_CONNECTIONS, DatabaseUnavailable


def options(tmp_path: Path, database_url: str, redis_url: str) -> RunOptions:
    return RunOptions(
        host="127.0.0.1",
        port=free_port(),
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=redis_url,
        capital=Decimal(5_000_000),
        webhook_secret="s",
        admin_token="t",
        instance="under-test",
    )


@asynccontextmanager
async def serving(config: Config, run: RunOptions) -> AsyncIterator[aiohttp.ClientSession]:
    """`serve` running until the block ends; a client of it once its site is up."""
    up, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(config, run, ready=up, stop=stop))
    waiting = asyncio.create_task(up.wait())
    await asyncio.wait((server, waiting), timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert up.is_set(), f"serve did not start: {server.exception() if server.done() else 'timed out'}"
    try:
        async with aiohttp.ClientSession(f"http://{run.host}:{run.port}") as session:
            yield session
    finally:
        stop.set()
        assert await asyncio.wait_for(server, 30) == 0


async def ready(session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
    async with session.get("/health/ready") as response:
        return response.status, await response.json()


async def leads(session: aiohttp.ClientSession) -> bool:
    async with session.get("/leader") as response:
        return response.status == 200


async def test_a_leader_is_not_ready_until_recovery_has_opened_its_gate(
    tmp_path: Path, migrated_database: str, redis_server: EmbeddedRedis, config: Config
) -> None:
    # Recovery's first step books the initial capital in the ledger: a lock on it holds Recovery there.
    holder = await asyncpg.connect(migrated_database)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE")
        async with serving(config, options(tmp_path, migrated_database, redis_server.url)) as session:
            # Nobody else runs: the instance takes the lease and the fence (/leader says so), then waits on the
            # ledger. Each look is an HTTP round trip.
            async with asyncio.timeout(30):
                while await leads(session) is False:
                    pass
            assert await ready(session) == (503, {"status": "not ready", "waiting_for": "recovery"})
            await lock.rollback()
            async with asyncio.timeout(30):
                while (status := await ready(session))[0] != 200:
                    assert status == (503, {"status": "not ready", "waiting_for": "recovery"})
            assert status == (200, {"status": "ready"})
            assert await holder.fetchval("SELECT sum(amount) FROM ledger") == Decimal(5_000_000)
    finally:
        await holder.close()  # rolls the lock back if an assertion failed while it was held


async def test_a_follower_is_ready_once_it_finds_the_lease_held(
    tmp_path: Path, migrated_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    await redis_client.set(config.leadership.key, "another-instance:0", px=60_000)  # someone else leads
    async with serving(config, options(tmp_path, migrated_database, redis_server.url)) as session:
        async with asyncio.timeout(30):
            while (status := await ready(session))[0] != 200:
                assert status == (503, {"status": "not ready", "waiting_for": "recovery"})
        assert await leads(session) is False
    assert await redis_client.get(config.leadership.key) == b"another-instance:0"


async def test_a_failure_opening_the_second_pool_closes_the_first(
    tmp_path: Path, migrated_database: str, redis_server: EmbeddedRedis, config: Config
) -> None:
    # A role allowed as many connections as the main pool opens: it takes them all, so the audit pool cannot open.
    role = f"basso_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(migrated_database)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT {MAIN_CONNECTIONS}")
        limited = migrated_database.replace("://postgres@", f"://{role}@", 1)
        with pytest.raises(DatabaseUnavailable, match="refused Basso: too many connections for role"):
            await serve(config, options(tmp_path, limited, redis_server.url))
        still_open = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role)
        assert still_open == 0
    finally:
        await admin.close()
