"""The fence lets the current leader write and refuses a stale one, even mid-flight."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from basso.store.fence import FenceLost, fenced, record_leadership, take_fence
from basso.store.migrations import migrate


@pytest.fixture
async def db(fresh_database: str) -> str:
    conn = await asyncpg.connect(fresh_database)
    await migrate(conn)
    await conn.close()
    return fresh_database


async def test_each_new_leader_gets_a_higher_epoch_and_history_records_it(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        assert await take_fence(conn, "host-a", "startup") == 1
        assert await take_fence(conn, "host-b", "takeover") == 2
        rows = await conn.fetch("SELECT epoch, holder, event FROM leadership_history ORDER BY id")
        # host-a recorded no end of its term: host-b records it superseded as it takes over.
        assert [tuple(r) for r in rows] == [
            (1, "host-a", "gained"),
            (1, "host-a", "superseded"),
            (2, "host-b", "gained"),
        ]
    finally:
        await conn.close()


async def test_a_term_that_ended_without_a_word_is_recorded_superseded_by_the_next_leader(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        assert await take_fence(conn, "host-a", "startup") == 1
        # host-a crashes: nothing records the end of epoch 1. host-b takes over, leads and releases cleanly.
        assert await take_fence(conn, "host-b", "lease acquired") == 2
        await record_leadership(conn, 2, "host-b", "released", "graceful shutdown")
        assert await take_fence(conn, "host-a", "lease acquired") == 3  # epoch 2 has its end: nothing added
        rows = await conn.fetch("SELECT epoch, holder, event, reason FROM leadership_history ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (1, "host-a", "gained", "startup"),
            (1, "host-a", "superseded", "no end of term recorded; host-b took the fence at epoch 2"),
            (2, "host-b", "gained", "lease acquired"),
            (2, "host-b", "released", "graceful shutdown"),
            (3, "host-a", "gained", "lease acquired"),
        ]
    finally:
        await conn.close()


async def test_a_stale_leader_cannot_commit_a_write(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        old = await take_fence(conn, "host-a", "startup")
        await take_fence(conn, "host-b", "takeover")
        with pytest.raises(FenceLost):
            async with fenced(conn, old):
                await conn.execute("UPDATE controls SET kill_switch = true")
        assert await conn.fetchval("SELECT kill_switch FROM controls") is False
    finally:
        await conn.close()


async def test_a_takeover_waits_for_the_old_leaders_open_transaction_then_fences_it_out(db: str) -> None:
    old_conn, new_conn = await asyncpg.connect(db), await asyncpg.connect(db)
    try:
        old = await take_fence(old_conn, "host-a", "startup")
        async with fenced(old_conn, old):
            takeover = asyncio.create_task(take_fence(new_conn, "host-b", "takeover"))
            # The takeover blocks on our share lock: PostgreSQL shows it waiting, proving the ordering.
            while not await _someone_waits_on_a_lock(db):  # each check is a round trip: the takeover task runs
                pass
            await old_conn.execute("UPDATE controls SET kill_switch = true")
        assert await takeover == old + 1
        with pytest.raises(FenceLost):
            async with fenced(old_conn, old):
                pass
        assert await new_conn.fetchval("SELECT kill_switch FROM controls") is True
    finally:
        await old_conn.close()
        await new_conn.close()


async def _someone_waits_on_a_lock(db: str) -> bool:
    conn = await asyncpg.connect(db)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    finally:
        await conn.close()
