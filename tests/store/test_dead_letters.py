"""A dead letter raises its alert in the transaction that sets the signal aside (real PostgreSQL): one per
signal, none if the fence refuses the burial, and each one a row of the notifications outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from basso.config import Config
from basso.rules.signals import signal_from_object
from basso.store.deadletters import bury_signal
from basso.store.fence import FenceLost, take_fence
from basso.store.inbox import store_signal
from tests.store.test_outcomes import ENTRY, leader_with_an_entry


@pytest.fixture
async def conn(migrated_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(migrated_database)
    try:
        yield connection
    finally:
        await connection.close()


async def test_each_dead_letter_is_one_critical_alert_naming_its_signal(
    conn: asyncpg.Connection, config: Config
) -> None:
    epoch, entry = await leader_with_an_entry(conn, config, "host-a")
    exit_ = signal_from_object(
        {**ENTRY, "type": "EXIT", "reason": "strategy exit", "timestamp": "2026-11-25T10:45:00"}, config
    )
    second = await store_signal(conn, exit_)
    await conn.execute("DELETE FROM notifications")  # the lead's own alert: this test counts the dead letters'
    error = "Poison: bank nifty feed corrupt"
    await bury_signal(conn, epoch=epoch, signal_row=entry.id, actor="basso/trading/executor", error=error, attempts=3)
    # The same signal again (a second burial of a signal already dead): nothing more.
    await bury_signal(conn, epoch=epoch, signal_row=entry.id, actor="basso/trading/executor", error=error, attempts=3)
    await bury_signal(conn, epoch=epoch, signal_row=second.id, actor="basso/trading/sizer", error=error, attempts=3)
    rows = await conn.fetch(
        "SELECT level, instrument, message, detail, dedupe, at FROM alerts WHERE kind = 'dead_letter' ORDER BY id"
    )
    assert [(r["level"], r["instrument"], r["dedupe"]) for r in rows] == [
        ("critical", "BANK_NIFTY", f"dead_letter:{entry.id}"),
        ("critical", "BANK_NIFTY", f"dead_letter:{second.id}"),
    ]
    assert rows[0]["message"] == (
        f"BASE_ENTRY BANK_NIFTY Long_1 (signal {entry.key}) was set aside after 3 crashes of basso/trading/executor:"
        " Poison: bank nifty feed corrupt. It was not traded: act on it by hand if it mattered"
    )
    assert orjson.loads(rows[1]["detail"]) == {
        "signal": second.id,
        "signal_id": second.key,
        "type": "EXIT",
        "actor": "basso/trading/sizer",
        "attempts": 3,
        "error": error,
    }
    # The alert is stamped with the burial: the signal's processed_at, written by the same statement.
    processed = await conn.fetchval("SELECT processed_at FROM signals WHERE id = $1", entry.id)
    assert rows[0]["at"] == processed
    assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 2
    outbox = await conn.fetch("SELECT source FROM notifications ORDER BY id")
    assert [r["source"] for r in outbox] == ["alert", "alert"]


async def test_a_burial_the_fence_refuses_raises_no_alert(conn: asyncpg.Connection, config: Config) -> None:
    epoch, entry = await leader_with_an_entry(conn, config, "host-a")
    await take_fence(conn, "host-b", "lease acquired")
    with pytest.raises(FenceLost):
        await bury_signal(conn, epoch=epoch, signal_row=entry.id, actor="executor", error="boom", attempts=3)
    assert await conn.fetchval("SELECT outcome FROM signals WHERE id = $1", entry.id) == "pending"
    assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await conn.fetchval("SELECT count(*) FROM alerts WHERE kind = 'dead_letter'") == 0
