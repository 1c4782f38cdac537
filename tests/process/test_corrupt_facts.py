"""`basso run` on facts it cannot trade on: it stops with the row named and exit status 65, not a retry loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from basso.config import Config
from basso.embedded import EmbeddedRedis
from basso.rules.signals import signal_from_object
from basso.server import EXIT_CORRUPT_FACTS
from basso.store.inbox import store_signal
from tests.processes import running
from tests.store.test_outcomes import ENTRY


async def test_corrupt_facts_stop_the_process_with_the_row_named(
    migrated_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        stored = await store_signal(conn, signal_from_object(ENTRY, config))
        await conn.execute(  # zero lots: impossible for an open layer (the schema forbids it; a bad restore did not)
            "ALTER TABLE positions DROP CONSTRAINT positions_lots_check"
        )
        await conn.execute(
            "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
            " highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)"
            " VALUES ('BANK_NIFTY', 1, 'open', 0, 52000, 51650, 51650, 52000, 350, 30, 270000, now(), $1)",
            stored.id,
        )
    finally:
        await conn.close()
    async with running(migrated_database, redis_server.url, tmp_path) as basso:
        assert await asyncio.wait_for(basso.process.wait(), 30) == EXIT_CORRUPT_FACTS
        line = await basso.wait_log("recovery refused the stored facts")
        assert "lots 0 must be above 0" in line
    conn = await asyncpg.connect(migrated_database)
    try:
        assert await conn.fetchval("SELECT outcome FROM signals") == "pending"
    finally:
        await conn.close()
