"""Storing a pending signal notifies the leader through PostgreSQL (sql/003); nothing else does."""

from __future__ import annotations

import asyncio

import asyncpg

from basso.config import Config
from basso.enums import SignalOutcome
from basso.rules.signals import signal_from_object
from basso.store.inbox import SIGNAL_STORED, listen_for_signals, store_signal
from tests.store.test_outcomes import ENTRY


async def test_a_pending_signal_notifies_with_its_id_and_a_duplicate_or_rejected_one_does_not(
    migrated_database: str, config: Config
) -> None:
    listener = await asyncpg.connect(migrated_database)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(SIGNAL_STORED, lambda *details: heard.put_nowait(str(details[-1])))
    other = await asyncpg.connect(migrated_database)  # another connection, as another instance's would be
    try:
        first = await store_signal(other, signal_from_object(ENTRY, config))
        await store_signal(other, signal_from_object(ENTRY, config))  # the same key: a duplicate
        await store_signal(
            other,
            signal_from_object({**ENTRY, "signal_id": "late"}, config),
            outcome=SignalOutcome.REJECTED,
            reason="timestamp too old",
        )
        last = await store_signal(other, signal_from_object({**ENTRY, "signal_id": "next"}, config))
        # Notifications arrive in commit order, so once the last one is in, every earlier one is too.
        assert [await asyncio.wait_for(heard.get(), 10) for _ in range(2)] == [str(first.id), str(last.id)]
        assert heard.empty()
    finally:
        await other.close()
        await listener.close()


async def test_listening_calls_back_for_each_signal_stored_and_gives_the_connection_back(
    migrated_database: str, config: Config
) -> None:
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=1)
    assert pool is not None
    calls: asyncio.Queue[None] = asyncio.Queue()
    stop = await listen_for_signals(pool, lambda: calls.put_nowait(None))
    try:
        other = await asyncpg.connect(migrated_database)
        try:
            await store_signal(other, signal_from_object(ENTRY, config))
        finally:
            await other.close()
        await asyncio.wait_for(calls.get(), 10)
    finally:
        await stop()
    # The pool's only connection is free again (acquiring it would wait forever otherwise).
    async with asyncio.timeout(10), pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM signals") == 1
    await pool.close()
