"""Two `basso run` processes on one PostgreSQL and one Redis: exactly one trades, the other stores webhooks and
takes over when the leader is killed, paused past its lease, or stopped (docs/architecture.md "How the tests
prove it"). Afterwards: every acknowledged signal has exactly one outcome, one order per executed signal, and
nothing written under an epoch after a newer one took the fence. Bounds on takeover times are generous: they
catch a takeover that never happens, not a slow machine."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from basso.embedded import EmbeddedRedis
from basso.store.pools import MAIN_CONNECTIONS
from tests.process.test_restart import sample
from tests.processes import Instance, running

GAINED = "leading: lease"


async def lead(instance: Instance, *, after: int = 0) -> int:
    """Wait for `instance` to take the lease; its epoch."""
    line = await instance.wait_log(GAINED, after=after)
    assert await instance.get("/leader") == {"leader": True}
    return int(line.rsplit("fence epoch ", 1)[1])


async def traded(instance: Instance, signal_id: str, name: str) -> None:
    status, reply = await instance.post(sample(name, signal_id))
    assert (status, reply["status"]) == (200, "accepted")
    record = await asyncio.wait_for(instance.wait_processed(signal_id), 30)
    assert record["status"] == "executed", record
    # Decided, then filled: its orders are done too before the test goes on (a paused leader must be idle, not
    # frozen inside its fill's transaction, which would hold the fence's lock until it wakes).
    while any(order["status"] != "filled" for order in record["orders"]):
        record = await instance.get(f"/api/signals/{signal_id}")


async def facts(database_url: str) -> tuple[dict[str, tuple[str, int]], int, list[tuple[int, str]]]:
    """Each signal's (outcome, epoch), the number of orders, and the leadership history (epoch, event)."""
    conn = await asyncpg.connect(database_url)
    try:
        signals = {
            r["signal_id"]: (r["outcome"], r["epoch"])
            for r in await conn.fetch("SELECT payload->>'signal_id' AS signal_id, outcome, epoch FROM signals")
        }
        orders = await conn.fetchval("SELECT count(*) FROM orders")
        history = [
            (r["epoch"], r["event"])
            for r in await conn.fetch("SELECT epoch, event FROM leadership_history ORDER BY id")
        ]
    finally:
        await conn.close()
    return signals, orders, history


async def test_the_standby_takes_over_when_the_leader_is_killed(
    fresh_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    async with running(fresh_database, redis_server.url, tmp_path / "a") as first:
        first_epoch = await lead(first)
        async with running(fresh_database, redis_server.url, tmp_path / "b") as second:
            assert await second.get("/leader") == {"leader": False}
            # A standby's connections have read what a takeover reads (basso/store/warm.py) before its leader dies;
            # the first instance, which led from its start, did not wait for that.
            assert f" {MAIN_CONNECTIONS} database connections warmed in " in await second.wait_log("warmed in")
            assert not [line for line in first.log if "warmed in" in line]
            # The standby stores the webhook; the leader finds it on its sweep and trades it.
            status, _ = await second.post(sample("BASE_ENTRY_BANK_NIFTY", "via-standby"))
            assert status == 200
            assert (await asyncio.wait_for(first.wait_processed("via-standby"), 30))["status"] == "executed"

            first.process.send_signal(signal.SIGKILL)
            await first.process.wait()
            killed_at = loop.time()
            second_epoch = await lead(second)
            assert loop.time() - killed_at < 15  # the lease's TTL (3 s) plus one attempt, with room to spare
            await traded(second, "after-failover", "BASE_ENTRY_GOLD_MINI")
            assert await second.terminate() == 0
    signals, orders, history = await facts(fresh_database)
    assert second_epoch == first_epoch + 1
    assert signals == {"via-standby": ("executed", first_epoch), "after-failover": ("executed", second_epoch)}
    assert orders == 2
    # The killed leader recorded no end of its term: the standby records it superseded as it takes the fence.
    assert history == [
        (first_epoch, "gained"),
        (first_epoch, "superseded"),
        (second_epoch, "gained"),
        (second_epoch, "released"),
    ]


async def test_a_leader_paused_past_its_lease_writes_nothing_when_it_wakes(
    fresh_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    async with (
        running(fresh_database, redis_server.url, tmp_path / "a") as first,
        running(fresh_database, redis_server.url, tmp_path / "b") as second,
    ):
        first_epoch = await lead(first)
        await traded(first, "before-pause", "BASE_ENTRY_BANK_NIFTY")
        first.process.send_signal(signal.SIGSTOP)
        second_epoch = await lead(second)
        # Stored by the paused leader's rival while it sleeps, traded under the new epoch.
        await traded(second, "while-paused", "BASE_ENTRY_GOLD_MINI")
        woke = len(first.log)
        first.process.send_signal(signal.SIGCONT)
        # Its first step after waking finds the deadline long past: it stops trading before anything else.
        await first.wait_log("no longer leading", after=woke)
        assert await first.get("/leader") == {"leader": False}
        status, _ = await first.post(sample("EXIT_ALL", "to-the-old-leader"))
        assert status == 200  # a follower still stores webhooks ...
        record = await asyncio.wait_for(second.wait_processed("to-the-old-leader"), 30)
        assert record["status"] == "executed"  # ... and the leader trades them
        assert await first.terminate() == 0
        assert await second.terminate() == 0
    signals, orders, history = await facts(fresh_database)
    assert signals == {
        "before-pause": ("executed", first_epoch),
        "while-paused": ("executed", second_epoch),
        "to-the-old-leader": ("executed", second_epoch),
    }
    assert orders == 3
    # The paused leader's term had no end when the standby took over (superseded); on waking, the old leader
    # records its own view of it (lost).
    assert history == [
        (first_epoch, "gained"),
        (first_epoch, "superseded"),
        (second_epoch, "gained"),
        (first_epoch, "lost"),
        (second_epoch, "released"),
    ]


async def test_a_leader_stopped_gracefully_hands_over_at_the_standbys_next_attempt(
    fresh_database: str, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    async with (
        running(fresh_database, redis_server.url, tmp_path / "a") as first,
        running(fresh_database, redis_server.url, tmp_path / "b") as second,
    ):
        first_epoch = await lead(first)
        stopped_at = loop.time()
        assert await first.terminate() == 0
        second_epoch = await lead(second)
        assert loop.time() - stopped_at < 10  # released, not left to expire: one attempt (0.5 s) after the stop
        await traded(second, "after-handover", "BASE_ENTRY_BANK_NIFTY")
        assert await second.terminate() == 0
    signals, orders, history = await facts(fresh_database)
    assert signals == {"after-handover": ("executed", second_epoch)}
    assert orders == 1
    assert history == [
        (first_epoch, "gained"),
        (first_epoch, "released"),
        (second_epoch, "gained"),
        (second_epoch, "released"),
    ]
