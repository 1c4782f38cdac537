"""bench/fuzz.py, shortened: generated and mutated payloads against a running `basso run` leave no 5xx, the
process alive, one audit row per request and nothing stored but valid, acknowledged, processed signals."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from basso.embedded import EmbeddedRedis

FUZZ = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"


@pytest.mark.timeout(300)
async def test_a_thousand_fuzzed_payloads_break_nothing(
    migrated_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(FUZZ),
        "--payloads",
        "1000",
        "--seed",
        "15",
        "--senders",
        "8",
        "--database-url",
        migrated_database,
        "--redis-url",
        redis_server.url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 280)
    assert out, err.decode()[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["violations"] == [], result
    assert process.returncode == 0
    # The payloads reached every verdict a sender can get, so the run exercised the parser and the store.
    assert {"200", "400", "401", "413"} <= set(result["replies"]), result
    assert result["stored_signals"] > 0
