"""Chaos in process: 2,000 signals (entries, pyramids, exits, bar closes) and a roll scan every 250 through the
real webhook and pipeline while a seeded killer crashes the actors by name — raising inside them and cancelling
their tasks. Afterwards every acknowledged signal has exactly one outcome, and positions and ledger equal a
replay of the same signals and roll steps through the pure rules."""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from basso.actors.elector import LeaseStatus
from basso.actors.events import ChildStarted, EventLog, SupervisorEvent
from basso.messages import Scan
from basso.pipeline import Hooks, Leadership, Pipeline, Runtime
from basso.store.lease import RedisLease
from basso.supervisor import Backoff, RestartIntensity
from tests.pipeline_support import CAPITAL, PROCESSED_AT, Outcomes, pipeline_for, solo_leader
from tests.replay import assert_state_equals_replay
from tests.web.conftest import NOW, SECRET, Webhook

SIGNALS = 2_000
PATHS = (
    "trading/receiver",
    "trading/sizer",
    "trading/stop_trailer",
    "trading/rollover",
    "trading/risk_guard",
    "trading/executor",
    "persister",
)
# Roll scans on days inside a roll window of the December contracts every entry goes into (the wall clock says
# 25 Nov): Friday 27 Nov 10:30 IST rolls Gold Mini into January; Wednesday 23 Dec rolls Bank Nifty (and finds
# Gold Mini's December contract expired: an alert). The next contract is quoted 150 above the mark.
ROLL_DAYS = (datetime(2026, 11, 27, 5, 0, tzinfo=UTC), datetime(2026, 12, 23, 5, 0, tzinfo=UTC))
SCAN_EVERY = 100
LEASE_KEY = "basso:test-chaos"


def started(event: SupervisorEvent) -> bool:
    return isinstance(event, ChildStarted)


class InjectedFault(Exception):
    """Raised inside an actor by the chaos test."""


def stream(rng: random.Random, count: int = SIGNALS, prefix: str = "chaos") -> list[dict[str, Any]]:
    """A plausible mix of entries, pyramids, exits and bars for Bank Nifty and Gold Mini: `count` signals, their
    signal ids `prefix`-00000 on."""
    prices = {"BANK_NIFTY": 52_000.0, "GOLD_MINI": 78_000.0}
    atrs = {"BANK_NIFTY": 350.0, "GOLD_MINI": 450.0}
    layers = {"BANK_NIFTY": 0, "GOLD_MINI": 0}
    signals = []
    for n in range(count):
        instrument = rng.choice(("BANK_NIFTY", "GOLD_MINI"))
        price = prices[instrument] = round(prices[instrument] * (1 + rng.gauss(0.0008, 0.006)), 0)
        atr = atrs[instrument]
        base: dict[str, Any] = {
            "instrument": instrument,
            "price": price,
            "timestamp": "2026-11-25T10:30:00",
            "secret": SECRET,
            "signal_id": f"{prefix}-{n:05d}",
        }
        roll = rng.random()
        if layers[instrument] == 0 and roll < 0.6:
            layers[instrument] = 1
            signals.append(
                {
                    **base,
                    "type": "BASE_ENTRY",
                    "position": "Long_1",
                    "stop": price - 1.5 * atr,
                    "lots": 1,
                    "atr": atr,
                    "er": round(rng.uniform(0.3, 1.0), 2),
                    "supertrend": price - atr,
                }
            )
        elif 0 < layers[instrument] < 6 and roll < 0.35:
            layers[instrument] += 1
            signals.append(
                {
                    **base,
                    "type": "PYRAMID",
                    "position": f"Long_{layers[instrument]}",
                    "stop": price - 1.5 * atr,
                    "lots": 1,
                    "atr": atr,
                    "er": 0.8,
                    "supertrend": price - atr,
                }
            )
        elif layers[instrument] and roll < 0.5:
            position = rng.choice(["ALL", f"Long_{rng.randint(1, layers[instrument])}"])
            if position == "ALL":
                layers[instrument] = 0
            signals.append({**base, "type": "EXIT", "position": position, "reason": "strategy exit"})
        else:
            signals.append({"type": "MARKET_DATA", **base, "atr": atr * rng.uniform(0.8, 1.2)})
    return signals


@pytest.mark.timeout(180)  # 2,000 signals and hundreds of restarts: seconds here, more on a slow machine
async def test_every_acknowledged_signal_is_applied_once_while_actors_are_crashed_at_random(webhook: Webhook) -> None:
    seed = int(os.environ.get("BASSO_CHAOS_SEED", random.randrange(2**32)))
    try:
        await chaos_run(webhook, seed)
    except BaseException as exc:
        exc.add_note(f"replay with BASSO_CHAOS_SEED={seed}")
        raise


@pytest.mark.timeout(180)
async def test_every_acknowledged_signal_is_applied_once_while_leadership_flaps_and_actors_crash(
    webhook: Webhook, redis_client: aioredis.Redis
) -> None:
    # The same, with the pipeline electing itself on real Redis: now and then its lease is taken away (the key
    # deleted, as if it had expired), so it stops trading mid-flight, takes the lease back under a new epoch,
    # recovers and goes on; the elector and Recovery are crashed too. Decisions made under an earlier epoch must
    # never commit, and nothing may be lost or doubled across the terms.
    seed = int(os.environ.get("BASSO_CHAOS_SEED", random.randrange(2**32)))
    try:
        await chaos_run(webhook, seed, redis=redis_client)
    except BaseException as exc:
        exc.add_note(f"replay with BASSO_CHAOS_SEED={seed}")
        raise


async def chaos_run(webhook: Webhook, seed: int, *, redis: aioredis.Redis | None = None) -> None:
    rng = random.Random(seed)
    armed: set[str] = set()
    raised = 0

    def fault(path: str) -> None:
        nonlocal raised
        if path.split("/")[-1] in armed:
            armed.discard(path.split("/")[-1])
            raised += 1
            raise InjectedFault(f"injected into {path}")

    outcomes = Outcomes()
    events = EventLog()
    config = webhook.services.config
    # Hundreds of crashes in seconds are the point here, so the restart intensity is set out of reach and the
    # backoff to nothing; the defaults (5 in 30 s) are proven by the supervisor's own tests.
    chaos = Runtime(
        fault=fault,
        intensity=RestartIntensity(max_restarts=100_000, within_s=1.0),
        backoff=Backoff(base_s=0.0, max_s=0.0),
        roll_quote=lambda _i, _e, mark: mark + 150,
    )
    paths: tuple[str, ...] = PATHS
    if redis is None:
        pipeline = pipeline_for(
            webhook.services.pool,
            config,
            await solo_leader(webhook.services.pool, NOW),
            outcomes,
            events=events,
            runtime=chaos,
        )
    else:
        # Short terms, so that a lease taken away is noticed (at the next renewal) and taken back quickly.
        settings = replace(
            config.leadership,
            lease_ttl_s=1.0,
            renew_every_s=0.05,
            renew_jitter_s=0.01,
            renew_deadline_s=0.6,
            key=LEASE_KEY,
        )
        pipeline = Pipeline(
            pool=webhook.services.pool,
            config=config,
            wall_clock=lambda: PROCESSED_AT,
            leadership=Leadership(
                lease=RedisLease(redis, LEASE_KEY, settings.lease_ttl_s),
                status=LeaseStatus("chaos", settings),
                capital=CAPITAL,
            ),
            hooks=Hooks(on_commit=outcomes, observer=events),
            runtime=chaos,
        )
        paths = (*PATHS, "elector", "recovery")
    webhook.services.wake_processor = pipeline.wake
    webhook.services.limiter.per_minute = 10**9
    await pipeline.start()
    if redis is None:
        pipeline.open()
    kills = flaps = 0
    try:
        acknowledged: list[str] = []
        for n, body in enumerate(stream(rng)):
            if n % SCAN_EVERY == SCAN_EVERY - 1:
                await pipeline.rollover.tell(Scan(now=ROLL_DAYS[n // SCAN_EVERY % 2], epoch=pipeline.epoch))
            status, reply = await webhook.post(orjson.dumps(body))
            assert status == 200, (seed, reply)
            acknowledged.append(str(reply["signal_id"]))
            # The killer: every few signals, cancel an actor's task or arm a fault inside one.
            if redis is not None and rng.random() < 0.01:
                await redis.delete(LEASE_KEY)  # the lease gone: the leader stops at its next renewal
                flaps += 1
            if rng.random() < 0.15:
                path = rng.choice(paths)
                if rng.random() < 0.5:
                    task = pipeline.root.cell(path).task
                    if task is not None and not task.done():
                        task.cancel()
                        kills += 1
                else:
                    armed.add(path.split("/")[-1])
        pool = webhook.services.pool
        await outcomes.wait_until_none_pending(pool, limit_s=60)
        async with asyncio.timeout(10):  # the last kill's restart may still be under way
            while not pipeline.root.healthy():
                await events.wait_for(started, events.count(started) + 1)
    finally:
        await pipeline.stop()
    assert kills + raised >= 150, f"seed {seed}: only {kills} kills and {raised} faults"
    if redis is not None:
        terms = await pool.fetchval("SELECT count(*) FROM leadership_history WHERE event = 'gained'")
        assert flaps >= 5, f"seed {seed}: the lease was taken away only {flaps} times"
        assert terms >= 5, f"seed {seed}: only {terms} terms"
    rows = await pool.fetch("SELECT key, outcome, reason FROM signals WHERE kind <> 'ROLL' ORDER BY id")
    assert sorted(r["key"] for r in rows) == sorted(acknowledged), f"seed {seed}"
    assert await pool.fetchval("SELECT count(*) FROM rolls WHERE state = 'done'") >= 1, f"seed {seed}: no roll"
    assert all(r["outcome"] != "pending" for r in rows), f"seed {seed}"
    dead = [r for r in rows if r["outcome"] == "dead"]
    assert all("InjectedFault" in r["reason"] for r in dead), f"seed {seed}: {dead}"
    # Each signal's orders were written once: no client id twice (the column is unique), one outcome each.
    assert await pool.fetchval("SELECT count(*) FROM orders") == await pool.fetchval(
        "SELECT count(*) FROM (SELECT DISTINCT client_id FROM orders) AS o"
    ), f"seed {seed}"
    try:
        await assert_state_equals_replay(pool, webhook.services.config)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc
