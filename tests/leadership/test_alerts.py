"""Every change of leader is an alert (docs/rules.md §10), written by whoever can know it honestly, in the
transaction that records it in leadership_history, and one row of the notifications outbox (real PostgreSQL and
Redis). A new leader records its own lead and, for a predecessor that left no word (it crashed or was cut off),
that term's end, fenced by the epoch it has just taken; a leader that loses its lease or steps down records
that itself."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

from basso.actors.elector import step_down
from basso.config import Config
from basso.embedded import EmbeddedRedis
from basso.store.fence import record_leadership, take_fence
from tests.leadership.test_elector import KEY, leading


async def alerts(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT level, kind, message FROM alerts ORDER BY id")
    return [(r["level"], r["kind"], r["message"]) for r in rows]


async def details(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [orjson.loads(r["detail"]) for r in await pool.fetch("SELECT detail FROM alerts ORDER BY id")]


async def test_each_change_of_leader_is_one_alert_and_one_notification(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert await take_fence(conn, "host-a", "lease acquired") == 1  # the first leader: nobody to take over from
        assert await take_fence(conn, "host-b", "lease acquired") == 2  # host-a crashed without a word
        await record_leadership(conn, 2, "host-b", "lost", "the lease expired or another instance holds it")
        assert await take_fence(conn, "host-a", "lease acquired") == 3  # epoch 2's end is known: no superseded
        await record_leadership(conn, 3, "host-a", "released", "graceful shutdown")
    assert await alerts(pool) == [
        ("info", "leadership_gained", "host-a leads at epoch 1 (lease acquired)"),
        (
            "warning",
            "leadership_superseded",
            "host-a's epoch 1 ended without a word (crashed or cut off): no end of term recorded;"
            " host-b took the fence at epoch 2",
        ),
        (
            "info",
            "leadership_gained",
            "host-b leads at epoch 2 (lease acquired), taking over from host-a (epoch 1, superseded)",
        ),
        (
            "critical",
            "leadership_lost",
            "host-b lost the lead of epoch 2 and paused trading: the lease expired or another instance holds it",
        ),
        (
            "info",
            "leadership_gained",
            "host-a leads at epoch 3 (lease acquired), taking over from host-b (epoch 2, lost)",
        ),
        ("info", "leadership_released", "host-a stepped down from epoch 3 (graceful shutdown): a standby takes over"),
    ]
    found = await details(pool)
    assert found[1] == {
        "epoch": 1,
        "instance": "host-a",
        "event": "superseded",
        "reason": "no end of term recorded; host-b took the fence at epoch 2",
    }
    assert found[4]["took_over_from"] == {"epoch": 2, "instance": "host-b", "ended": "lost"}
    assert (found[4]["epoch"], found[4]["instance"]) == (3, "host-a")
    # Each alert is at the time of its history row, and each is one row of the outbox.
    times = await pool.fetch(
        "SELECT a.at = h.at AS same FROM alerts a JOIN leadership_history h"
        " ON h.epoch = (a.detail->>'epoch')::bigint AND h.event = a.detail->>'event' ORDER BY a.id"
    )
    assert [row["same"] for row in times] == [True] * 6
    outbox = await pool.fetch("SELECT source, source_id FROM notifications ORDER BY id")
    ids = [row["id"] for row in await pool.fetch("SELECT id FROM alerts ORDER BY id")]
    assert [tuple(row) for row in outbox] == [("alert", i) for i in ids]


async def test_a_late_word_from_a_leader_already_superseded_raises_nothing_more(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await take_fence(conn, "host-a", "lease acquired")
        await take_fence(conn, "host-b", "lease acquired")  # host-a's epoch 1 recorded superseded
        # host-a, cut off from PostgreSQL meanwhile, records its own loss of epoch 1 when it can: the history
        # keeps its word, the trader is not told the same end twice.
        await record_leadership(conn, 1, "host-a", "lost", "no lease renewal acknowledged within 2 s")
    history = await pool.fetch("SELECT epoch, event FROM leadership_history ORDER BY id")
    assert [tuple(r) for r in history] == [(1, "gained"), (1, "superseded"), (2, "gained"), (1, "lost")]
    assert [kind for _, kind, _ in await alerts(pool)] == [
        "leadership_gained",
        "leadership_superseded",
        "leadership_gained",
    ]
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 3


async def test_an_unknown_event_is_refused_and_writes_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="leadership event 'paused' is not one of gained, released"):
            await record_leadership(conn, 1, "host-a", "paused", "?")
    assert await pool.fetchval("SELECT count(*) FROM leadership_history") == 0
    assert await pool.fetchval("SELECT count(*) FROM alerts") == 0


async def test_a_leader_whose_lease_changed_hands_alerts_critical_and_its_next_term_says_whom_it_followed(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    async with leading(pool, redis_server.url, config) as (a, _clock):
        epoch = a.watch.gained[0][1]
        await redis_client.set(KEY, "intruder")
        await a.watch.until(lambda: bool(a.watch.lost))
        # The key freed, the same instance leads again. Its loss was recorded within the step that lost it,
        # before any later step could take the lease.
        await redis_client.delete(KEY)
        await a.watch.until(lambda: len(a.watch.gained) == 2)
        await a.supervisor.stop()  # as Pipeline.stop does: the elector first, then the lease
        await step_down(a.context, "released", "graceful shutdown")
    assert await alerts(pool) == [
        ("info", "leadership_gained", f"a leads at epoch {epoch} (lease acquired)"),
        (
            "critical",
            "leadership_lost",
            f"a lost the lead of epoch {epoch} and paused trading: the lease expired or another instance holds it",
        ),
        (
            "info",
            "leadership_gained",
            f"a leads at epoch {epoch + 1} (lease acquired), taking over from a (epoch {epoch}, lost)",
        ),
        (
            "info",
            "leadership_released",
            f"a stepped down from epoch {epoch + 1} (graceful shutdown): a standby takes over",
        ),
    ]
