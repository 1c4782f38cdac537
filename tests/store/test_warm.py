"""Every connection of the pool has read what a takeover reads before the first signal needs it
(basso/store/warm.py): the statements are prepared on each connection, in PostgreSQL's own list, and the warm-up
neither writes nor waits on a leader's locks, nor stops the start on facts that Recovery will refuse or on a
database that goes away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from basso.config import Config
from basso.rules.signals import signal_from_object
from basso.store.inbox import store_signal
from basso.store.warm import warm_connections
from tests.store.test_outcomes import ENTRY
from tests.tcpproxy import proxy_to, through

CONNECTIONS = 4

# A phrase of each read a takeover makes: the fence, the book, the inbox's count and its next signals, the orders.
TAKEOVER_READS = [
    "FROM leader_fence",
    "FROM equity_peaks",
    "count(*) FROM signals",
    "s.payload FROM signals",
    "FROM orders o",
]


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_database, min_size=CONNECTIONS, max_size=CONNECTIONS)
    try:
        yield pool
    finally:
        await pool.close()


async def prepared_on_each_connection(pool: asyncpg.Pool) -> dict[int, list[str]]:
    """Each connection's backend pid and the statements prepared on it (all connections held at once)."""
    connections = [await pool.acquire() for _ in range(CONNECTIONS)]
    try:
        return {
            await conn.fetchval("SELECT pg_backend_pid()"): [
                row["statement"] for row in await conn.fetch("SELECT statement FROM pg_prepared_statements")
            ]
            for conn in connections
        }
    finally:
        for conn in connections:
            await pool.release(conn)


def missing_reads(statements: list[str]) -> list[str]:
    return [read for read in TAKEOVER_READS if not any(read in statement for statement in statements)]


async def test_every_connection_has_run_a_takeovers_reads(pool: asyncpg.Pool, config: Config) -> None:
    await store_signal(pool, signal_from_object(ENTRY, config))
    before = await prepared_on_each_connection(pool)
    assert all(missing_reads(statements) == TAKEOVER_READS for statements in before.values())  # cold
    await warm_connections(pool, config)
    after = await prepared_on_each_connection(pool)
    assert len(after) == CONNECTIONS
    assert {pid: missing_reads(statements) for pid, statements in after.items()} == {pid: [] for pid in after}


async def test_it_writes_nothing_and_waits_on_no_lock_a_leader_holds(
    pool: asyncpg.Pool, migrated_database: str, config: Config
) -> None:
    await store_signal(pool, signal_from_object(ENTRY, config))
    facts = (
        "SELECT (SELECT book_version FROM controls), (SELECT epoch FROM leader_fence), (SELECT outcome FROM signals)"
    )
    before = tuple(await pool.fetchrow(facts) or ())
    leader = await asyncpg.connect(migrated_database)
    try:
        # A takeover taking the fence, and a decision committing, both in flight: their rows locked.
        await leader.execute("BEGIN")
        await leader.execute("SELECT FROM leader_fence WHERE id = 1 FOR UPDATE")
        await leader.execute("UPDATE controls SET book_version = book_version WHERE id = 1")
        await asyncio.wait_for(warm_connections(pool, config), 30)  # a bound that fails rather than hangs
        await leader.execute("ROLLBACK")
    finally:
        await leader.close()
    assert tuple(await pool.fetchrow(facts) or ()) == before == (before[0], 0, "pending")


async def test_facts_recovery_will_refuse_are_said_once_and_do_not_stop_the_warm_up(
    pool: asyncpg.Pool, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    stored = await store_signal(pool, signal_from_object(ENTRY, config))
    await pool.execute(  # an instrument since removed from the configuration (as in tests/leadership/test_recovery)
        "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
        " highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)"
        " VALUES ('CRUDE_OIL', 1, 'open', 2, 6000, 5900, 5900, 6000, 50, 100, 500000, now(), $1)",
        stored.id,
    )
    with caplog.at_level(logging.WARNING, logger="basso.store.warm"):
        await warm_connections(pool, config)
    said = [record.getMessage() for record in caplog.records if record.name == "basso.store.warm"]
    assert len(said) == 1
    assert "Recovery will refuse them" in said[0]
    assert "instrument 'CRUDE_OIL' is not configured" in said[0]
    after = await prepared_on_each_connection(pool)
    assert {pid: missing_reads(statements) for pid, statements in after.items()} == {pid: [] for pid in after}


async def test_a_database_cut_during_the_warm_up_is_one_line_and_the_start_goes_on(
    migrated_database: str, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    async with proxy_to(urlsplit(migrated_database).port or 5432) as proxy:
        pool = await asyncpg.create_pool(through(proxy.port, migrated_database), min_size=2, max_size=2)
        try:
            proxy.cut()  # every connection dropped, and new ones refused
            with caplog.at_level(logging.WARNING, logger="basso.store.warm"):
                await warm_connections(pool, config)
        finally:
            proxy.restore()
            await pool.close()
    said = [record.getMessage() for record in caplog.records if record.name == "basso.store.warm"]
    assert len(said) == 1
    assert said[0].startswith("database connections not warmed (")
