"""A wake while the Sizer is handling a message leads to another look (no sweep to fall back on)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from basso.config import Config
from basso.rules.signals import signal_from_object
from basso.store.inbox import store_signal
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader
from tests.tcpproxy import proxy_to
from tests.web.conftest import NOW
from tests.web.test_webhook import payload

PENDING_QUERY = "SELECT s.id, s.key, s.payload FROM signals s WHERE s.outcome = 'pending'%"


async def the_query_has_run(pool: asyncpg.Pool, since: datetime) -> None:
    """Return once PostgreSQL has answered a pending-signals query started after `since` (each look is a
    round trip to the database)."""
    async with asyncio.timeout(30):
        while not await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND query LIKE $1 AND query_start > $2",
            PENDING_QUERY,
            since,
        ):
            pass


async def test_a_signal_stored_while_the_sizer_runs_its_pending_query_is_decided_without_a_sweep(
    migrated_database: str, config: Config
) -> None:
    direct = await asyncpg.create_pool(migrated_database, min_size=1, max_size=2)
    assert direct is not None
    port = int(migrated_database.rsplit(":", 1)[1].split("/", 1)[0])
    async with proxy_to(port) as proxy:
        proxied = await asyncpg.create_pool(
            migrated_database.replace(f":{port}/", f":{proxy.port}/"), min_size=4, max_size=8
        )
        assert proxied is not None
        epoch = await solo_leader(direct, NOW)
        outcomes = Outcomes()
        pipeline = pipeline_for(proxied, config, epoch, outcomes)  # no sweep: only wakes make the Sizer look
        await pipeline.start()
        try:
            await asyncio.wait_for(pipeline.listened.wait(), 30)
            # A first look, nothing pending: the Sizer's connection now has the query prepared, so the next look
            # is one round trip (asyncpg would otherwise wait for the held reply to its Prepare).
            since = await direct.fetchval("SELECT clock_timestamp()")
            pipeline.open()
            await the_query_has_run(direct, since)
            while pipeline.receiver.mailbox:  # the SignalReceiver is done with that Poll once it is acknowledged
                await asyncio.wait_for(pipeline.receiver.mailbox.wait_room(), 30)  # returns at the next ack
            since = await direct.fetchval("SELECT clock_timestamp()")
            proxy.hold()
            pipeline.wake()  # the receiver looks again: PostgreSQL answers "nothing pending", held on the way back
            await the_query_has_run(direct, since)
            # A webhook stores a signal now and wakes the pipeline, while the receiver is still handling that Poll.
            # Its notification is not sent (as if missed), so the wake is all the receiver gets.
            signal = signal_from_object(payload("BASE_ENTRY_BANK_NIFTY"), config)
            async with direct.acquire() as conn, conn.transaction():
                await conn.execute("ALTER TABLE signals DISABLE TRIGGER signal_stored")
                await store_signal(conn, signal)
                await conn.execute("ALTER TABLE signals ENABLE TRIGGER signal_stored")
            pipeline.wake()
            proxy.release()
            await asyncio.wait_for(outcomes.wait_for(1), 10)
            assert await direct.fetchval("SELECT outcome FROM signals") == "executed"
        finally:
            proxy.release()
            await pipeline.stop()
            await proxied.close()
            await direct.close()
