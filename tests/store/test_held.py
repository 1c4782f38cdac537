"""An actor's held connection (basso/store/held.py) is never reused mid-transaction: an operation interrupted with
its transaction still open (asyncpg abandons the ROLLBACK when a second cancellation arrives during it) has its
connection terminated at once, so the rows it locked are free and the next operation commits for real.

Seen in the chaos test before the mend: the Persister's held connection kept an abandoned transaction with the
facts' version bumped; every later decision ran inside it, saw a version nobody else saw, and was refused as stale
forever while the row lock it held stopped the elector from taking the fence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from basso.store.held import HeldConnection
from basso.store.types import Connection


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def version(pool: asyncpg.Pool) -> int:
    value: int = await pool.fetchval("SELECT book_version FROM controls WHERE id = 1")
    return value


async def left_open(conn: Connection) -> None:
    """What an interrupted `async with conn.transaction()` leaves behind: a transaction open, a row locked."""
    await conn.execute("BEGIN")
    await conn.execute("UPDATE controls SET book_version = book_version + 100 WHERE id = 1")
    raise asyncio.CancelledError  # as the second cancellation did, after asyncpg's ROLLBACK was abandoned


async def bump(conn: Connection) -> None:
    await conn.execute("UPDATE controls SET book_version = book_version + 1 WHERE id = 1")


async def test_an_interrupted_transaction_is_dropped_with_its_connection_and_its_locks(pool: asyncpg.Pool) -> None:
    held = HeldConnection(pool)
    before = await version(pool)
    with pytest.raises(asyncio.CancelledError):
        await held.run(left_open, what="test: interrupted")
    # The row is free at once (NOWAIT raises if anyone still holds it) and the abandoned +100 never happened.
    async with pool.acquire() as other, other.transaction():
        assert await other.fetchval("SELECT book_version FROM controls WHERE id = 1 FOR UPDATE NOWAIT") == before
    # The next operation runs on a fresh connection, outside any transaction: its write is visible to others.
    await held.run(bump, what="test: next")
    assert await version(pool) == before + 1
    await held.release()
    assert pool.get_size() <= 2  # the terminated connection gave its slot back: the pool is not leaking


async def test_a_connection_found_mid_transaction_is_not_reused(pool: asyncpg.Pool) -> None:
    # However the transaction was left open (an operation that swallowed its own failure, say), the next
    # operation does not run inside it.
    held = HeldConnection(pool)
    before = await version(pool)

    async def swallowed(conn: Connection) -> None:
        await conn.execute("BEGIN")
        await conn.execute("UPDATE controls SET book_version = book_version + 100 WHERE id = 1")

    await held.run(swallowed, what="test: left open")
    await held.run(bump, what="test: next")
    assert await version(pool) == before + 1
    await held.release()
