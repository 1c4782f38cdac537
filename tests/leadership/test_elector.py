"""The LeaderElector against real Redis and PostgreSQL: one leader, takeover on release, the renewal deadline,
a lease that changed hands, and an elector crash that costs nothing (docs/architecture.md "Leadership timing")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncpg
import pytest
import redis.asyncio as aioredis

from basso.actors.base import ActorRef
from basso.actors.clock import Clock, FakeClock, SystemClock
from basso.actors.elector import ElectorContext, LeaderElector, LeaseStatus, step_down
from basso.config import Config, LeadershipSettings
from basso.embedded import EmbeddedRedis
from basso.store.lease import RedisLease
from basso.supervisor import ChildSpec, Supervisor
from tests.tcpproxy import proxy_to

KEY = "basso:test-leader"


class Watch:
    """What one elector reported, with the time on its clock; tests wait on it instead of sleeping."""

    def __init__(self, clock: Clock, changed: asyncio.Event | None = None) -> None:
        self.clock = clock
        self.gained: list[tuple[float, int]] = []
        self.lost: list[tuple[float, str]] = []
        self.renewed: list[float] = []
        self._changed = changed or asyncio.Event()  # shared by electors a test watches together

    async def on_gained(self, epoch: int) -> None:
        self.gained.append((self.clock.monotonic(), epoch))
        self._changed.set()

    def on_lost(self, reason: str) -> None:
        self.lost.append((self.clock.monotonic(), reason))
        self._changed.set()

    def on_renewed(self, _seconds: float) -> None:
        self.renewed.append(self.clock.monotonic())
        self._changed.set()

    async def until(self, condition: Callable[[], bool], limit_s: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"not reached within {limit_s} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())


class Running:
    """One elector under its own supervisor."""

    def __init__(self, context: ElectorContext, watch: Watch, supervisor: Supervisor) -> None:
        self.context = context
        self.watch = watch
        self.supervisor = supervisor

    @property
    def status(self) -> LeaseStatus:
        return self.context.status


@asynccontextmanager
async def elector(
    pool: asyncpg.Pool,
    redis_url: str,
    settings: LeadershipSettings,
    *,
    instance: str,
    clock: Clock | None = None,
    changed: asyncio.Event | None = None,
) -> AsyncIterator[Running]:
    clock = clock or SystemClock()
    redis = aioredis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=1.0)
    watch = Watch(clock, changed)
    context = ElectorContext(
        lease=RedisLease(redis, settings.key, settings.lease_ttl_s),
        pool=pool,
        status=LeaseStatus(instance, settings),
        clock=clock,
        on_gained=watch.on_gained,
        on_lost=watch.on_lost,
        on_renewed=watch.on_renewed,
    )
    supervisor = Supervisor(
        name="root",
        clock=clock,
        children=[ChildSpec(name="elector", factory=lambda: LeaderElector(context), ref=ActorRef("elector"))],
    )
    await supervisor.start()
    try:
        yield Running(context, watch, supervisor)
    finally:
        await supervisor.stop()
        await redis.aclose()


@asynccontextmanager
async def leading(pool: asyncpg.Pool, redis_url: str, config: Config) -> AsyncIterator[tuple[Running, FakeClock]]:
    """An elector with the default timings on a fake clock, once it leads and has renewed twice."""
    clock = FakeClock()
    async with elector(pool, redis_url, replace(config.leadership, key=KEY), instance="a", clock=clock) as running:
        await running.watch.until(lambda: bool(running.watch.gained) and len(running.watch.renewed) >= 2)
        yield running, clock


def fast(config: Config) -> LeadershipSettings:
    """Shorter real-time timings for the test of two electors racing on the real clock (a takeover after a
    release takes one attempt, 0.2 s); the deadline stays long enough that a busy test machine's pauses do not
    cost the leader its lease."""
    return replace(
        config.leadership, lease_ttl_s=2.0, renew_every_s=0.2, renew_jitter_s=0.02, renew_deadline_s=1.2, key=KEY
    )


async def history(pool: asyncpg.Pool) -> list[tuple[int, str, str]]:
    rows = await pool.fetch("SELECT epoch, holder, event FROM leadership_history ORDER BY id")
    return [(r["epoch"], r["holder"], r["event"]) for r in rows]


async def test_one_of_two_leads_and_the_other_takes_over_once_it_releases(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    settings, changed = fast(config), asyncio.Event()
    async with (
        elector(pool, redis_server.url, settings, instance="a", changed=changed) as a,
        elector(pool, redis_server.url, settings, instance="b", changed=changed) as b,
    ):
        await a.watch.until(lambda: bool(a.watch.gained or b.watch.gained))
        leader, standby = (a, b) if a.watch.gained else (b, a)
        renewals = len(leader.watch.renewed)
        await leader.watch.until(lambda: len(leader.watch.renewed) >= renewals + 5)
        assert standby.watch.gained == []  # five renewals later the standby has still not taken it
        assert standby.status.epoch is None
        assert leader.status.leads(leader.context.clock.monotonic())
        first = leader.watch.gained[0][1]

        await leader.supervisor.stop()  # as Pipeline.stop does: the elector first, then the lease
        held = leader.status.token
        await step_down(leader.context, "released", "graceful shutdown")
        # The key is deleted, not left to expire: empty now, or already the standby's (it may try meanwhile).
        assert await redis_client.get(KEY) in (None, standby.status.token.encode())
        assert held != standby.status.token
        await standby.watch.until(lambda: bool(standby.watch.gained))
        assert standby.watch.gained[0][1] == first + 1
        assert await pool.fetchval("SELECT epoch FROM leader_fence") == first + 1
    names = {a: "a", b: "b"}
    assert await history(pool) == [
        (first, names[leader], "gained"),
        (first, names[leader], "released"),
        (first + 1, names[standby], "gained"),
    ]


async def test_a_leader_cut_off_from_redis_pauses_at_its_deadline_before_its_key_can_expire(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    settings = config.leadership  # the defaults: TTL 3 s, renewal 0.5 s, deadline 2 s
    async with (
        proxy_to(redis_server.port) as proxy,
        leading(pool, f"redis://127.0.0.1:{proxy.port}/0", config) as (a, clock),
    ):
        epoch = a.watch.gained[0][1]
        proxy.cut()
        await a.watch.until(lambda: bool(a.watch.lost))
        last_renewal = a.watch.renewed[-1]  # on the fake clock a renewal is acknowledged when it is sent
        lost_at, reason = a.watch.lost[0]
        assert lost_at - last_renewal == pytest.approx(settings.renew_deadline_s)  # at the deadline, not later
        assert lost_at - last_renewal < settings.lease_ttl_s  # so before the key can expire in Redis
        assert reason.startswith("no lease renewal acknowledged within 2 s")
        assert not a.status.leads(clock.monotonic())

        # Redis back and the old key gone: the same instance leads again, under a new epoch.
        proxy.restore()
        await redis_client.delete(KEY)
        await a.watch.until(lambda: len(a.watch.gained) == 2)
        assert a.watch.gained[1][1] == epoch + 1
    assert await history(pool) == [(epoch, "a", "gained"), (epoch, "a", "lost"), (epoch + 1, "a", "gained")]


async def test_a_leader_whose_lease_changed_hands_steps_down_at_its_next_renewal(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    async with leading(pool, redis_server.url, config) as (a, clock):
        await redis_client.set(KEY, "intruder")
        changed_at = clock.monotonic()
        await a.watch.until(lambda: bool(a.watch.lost))
        lost_at, reason = a.watch.lost[0]
        assert reason == "the lease expired or another instance holds it"
        assert lost_at - changed_at <= config.leadership.renew_every_s  # at the first renewal after the change
        assert await redis_client.get(KEY) == b"intruder"  # stepping down never deletes another's lease


async def test_a_crashed_elector_goes_on_renewing_the_same_lease(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    async with leading(pool, redis_server.url, config) as (a, _clock):
        token = a.status.token
        a.supervisor.cell("elector").kill()
        renewals = len(a.watch.renewed)
        await a.watch.until(lambda: len(a.watch.renewed) >= renewals + 3)
        assert a.supervisor.cell("elector").restarts == 1
        assert len(a.watch.gained) == 1  # no new term: the same epoch, the same token, the same key
        assert a.watch.lost == []
        assert await redis_client.get(KEY) == token.encode()


class SleepSignallingClock(FakeClock):
    """A fake clock that says when something first slept on it (the elector, after its first step)."""

    def __init__(self) -> None:
        super().__init__()
        self.slept = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.set()
        await super().sleep(seconds)


async def test_a_standby_tries_again_when_the_lease_expires_if_that_comes_before_its_next_attempt(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    # Another instance holds the lease with 1.5 s left (its leader died: nobody renews it). The standby's
    # attempts here are every standby_every_s less up to renew_jitter_s: 2.0 - [0, 0.1] = 1.9 to 2.0 s; it tries
    # again at the expiry instead, 1.5 s (less the time the test took to get there: under 0.5 s) after its
    # attempt.
    settings = replace(config.leadership, key=KEY, standby_every_s=2.0, renew_jitter_s=0.1)
    await redis_client.set(KEY, "dead-leader:1", px=1500)
    clock = SleepSignallingClock()
    async with elector(pool, redis_server.url, settings, instance="b", clock=clock) as standby:
        await asyncio.wait_for(clock.slept.wait(), 10)
    assert standby.watch.gained == []
    assert 1.0 < clock.sleeps[0] <= 1.5


async def test_a_standby_behind_a_healthy_leader_keeps_its_ordinary_interval(
    pool: asyncpg.Pool, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, config: Config
) -> None:
    # A live leader renews to the full TTL (3 s): more than the interval, so the standby tries every 1.9-2.0 s
    # (standby_every_s less up to renew_jitter_s), whatever the leader's own renewal interval.
    settings = replace(config.leadership, key=KEY, standby_every_s=2.0, renew_jitter_s=0.1, renew_every_s=0.5)
    await redis_client.set(KEY, "live-leader:1", px=3000)
    clock = SleepSignallingClock()
    async with elector(pool, redis_server.url, settings, instance="b", clock=clock) as standby:
        await asyncio.wait_for(clock.slept.wait(), 10)
    assert standby.watch.gained == []
    assert 1.9 <= clock.sleeps[0] <= 2.0
