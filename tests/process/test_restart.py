"""A restarted process shows exactly what the stopped one had: positions, ledger and outcomes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from basso.embedded import EmbeddedRedis
from basso.timeutil import IST
from tests.processes import SECRET, running
from tests.web.test_webhook import PAYLOADS


def now_ist() -> str:
    return datetime.now(IST).replace(microsecond=0, tzinfo=None).isoformat()


def sample(name: str, signal_id: str) -> bytes:
    return orjson.dumps({**PAYLOADS[name], "timestamp": now_ist(), "secret": SECRET, "signal_id": signal_id})


async def snapshot(instance: Any) -> tuple[Any, Any, Any]:
    positions = await instance.get("/api/positions")
    ledger = await instance.get("/api/ledger")
    signals = await instance.get("/api/signals")
    return positions, ledger, [(s["signal_id"], s["status"], s["reason"]) for s in signals["signals"]]


async def test_a_restart_shows_the_same_positions_ledger_and_outcomes(
    fresh_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with running(fresh_database, redis_server.url, tmp_path) as first:
        for name, signal_id in [
            ("BASE_ENTRY_BANK_NIFTY", "bn-1"),
            ("BASE_ENTRY_GOLD_MINI", "gold-1"),
            ("EXIT_TRAILING_STOP", "bn-exit-2"),
        ]:
            status, reply = await first.post(sample(name, signal_id))
            assert (status, reply["status"]) == (200, "accepted"), reply
            await first.wait_processed(signal_id)
        before = await snapshot(first)
        assert await first.terminate() == 0
    assert any(line.rstrip().endswith("INFO basso.server: stopped") for line in first.log)  # SIGTERM: graceful
    assert [p["layer"] for p in before[0]["positions"]] == ["Long_1", "Long_1"]
    assert [s[1] for s in before[2]] == ["ignored", "executed", "executed"]

    async with running(fresh_database, redis_server.url, tmp_path) as second:
        assert await snapshot(second) == before
        # The same signal sent again after the restart is still a duplicate.
        status, reply = await second.post(sample("BASE_ENTRY_BANK_NIFTY", "bn-1"))
        assert (status, reply["status"]) == (200, "duplicate")
        assert await second.terminate() == 0
