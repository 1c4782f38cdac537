"""Migrations apply once, in order, safely from two processes, and the enum tables follow the code."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from basso.enums import DATABASE_ENUMS, PositionStatus
from basso.store.migrations import current_version, discover, migrate


async def test_migrate_applies_every_file_once_and_a_second_run_applies_nothing(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await current_version(conn) == 0
        first = await migrate(conn)
        assert first == [m.version for m in discover()]
        assert await migrate(conn) == []
        assert await current_version(conn) == first[-1]
    finally:
        await conn.close()


async def test_two_concurrent_runners_apply_each_migration_exactly_once(fresh_database: str) -> None:
    a, b = await asyncpg.connect(fresh_database), await asyncpg.connect(fresh_database)
    try:
        applied = await asyncio.gather(migrate(a), migrate(b))
        assert sorted(applied[0] + applied[1]) == [m.version for m in discover()]
    finally:
        await a.close()
        await b.close()


async def test_enum_tables_hold_exactly_the_codes_values(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn)
        for table, enum in DATABASE_ENUMS.items():
            stored = {row["name"] for row in await conn.fetch(f"SELECT name FROM {table}")}
            assert stored == {member.value for member in enum}, table
    finally:
        await conn.close()


async def test_a_position_with_a_status_the_code_does_not_know_is_refused(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn)
        signal = await conn.fetchval(
            "INSERT INTO signals (key, kind, instrument, signal_time, payload)"
            " VALUES ('k', 'BASE_ENTRY', 'BANK_NIFTY', now(), '{}') RETURNING id"
        )
        insert = (
            "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
            " highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)"
            " VALUES ('BANK_NIFTY', 1, $1, 1, 52000, 51650, 51650, 52000, 350, 30, 270000, now(), $2)"
        )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(insert, "half-open", signal)
        await conn.execute(insert, PositionStatus.OPEN.value, signal)
        # A second live Long_1 for the same instrument cannot replace the first.
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, PositionStatus.OPEN.value, signal)
    finally:
        await conn.close()
