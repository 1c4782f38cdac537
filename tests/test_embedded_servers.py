"""Smoke tests: the embedded servers the fixtures start are real and usable."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis


async def test_postgres_round_trips_a_numeric_without_drift(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute("CREATE TABLE ledger (amount NUMERIC(18, 2) NOT NULL)")
        amounts = [(Decimal("0.10"),), (Decimal("0.20"),), (Decimal("-0.30"),)]
        await conn.executemany("INSERT INTO ledger VALUES ($1)", amounts)
        assert str(await conn.fetchval("SELECT sum(amount) FROM ledger")) == "0.00"
    finally:
        await conn.close()


async def test_redis_set_nx_holds_a_key_only_once(redis_client: aioredis.Redis) -> None:
    assert await redis_client.set("lease", "a", nx=True, px=3000)
    assert not await redis_client.set("lease", "b", nx=True, px=3000)
    assert await redis_client.get("lease") == b"a"
