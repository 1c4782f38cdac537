"""LeaderElector: holds the Redis lease while this instance leads, and pauses trading the moment it cannot be
sure it still does (docs/architecture.md "Leadership timing").

A follower tries to take the lease every `standby_every_s` (less a random jitter), or sooner: when the lease has
less time left than that (its leader died and stopped renewing it), at the moment it expires. On taking it,
the elector takes the PostgreSQL fence (a new epoch, recorded in `leadership_history`) and reports the gain;
Recovery then rebuilds the state and opens the gate. The leader renews every `renew_every_s` and measures its lease from
when each renewal was *sent* (monotonic clock): once `renew_deadline_s` has passed since the last renewal
Redis acknowledged, it closes the gate — before the key can expire in Redis (`lease_ttl_s`), so no standby can
lead while this one still trades. A renewal refused (the key expired or changed hands) closes it at once.

The lease's state (`LeaseStatus`) outlives the elector's incarnations: a crashed elector is restarted and
goes on renewing the same lease, and leadership is lost only if the deadline passes meanwhile. Graceful
shutdown gives the key up (`step_down`), so a standby takes over within one of its attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from redis.exceptions import RedisError

from basso.actors.base import Actor
from basso.actors.clock import Clock
from basso.config import LeadershipSettings
from basso.messages import Message
from basso.store.fence import record_leadership, take_fence
from basso.store.lease import RedisLease

__all__ = ["ElectorContext", "LeaderElector", "LeaseStatus", "Tick", "step_down"]

log = logging.getLogger(__name__)

# How long a fence or history write may take while the elector waits on it: the renewal loop must not hang on
# a PostgreSQL outage (the history row of a loss is best effort; the fence is what matters).
_DATABASE_TIMEOUT_S = 2.0
_UNAVAILABLE = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Message):
    """Time for the elector's next step: renew the lease, or try to take it."""


class LeaseStatus:
    """What this instance knows of its lease; read by /leader, /health/live and /metrics."""

    def __init__(self, instance: str, settings: LeadershipSettings) -> None:
        self.instance = instance
        self.settings = settings
        self.token = _token(instance)
        self.epoch: int | None = None  # the fence epoch, while leading
        self.renewed_at: float | None = None  # when the last acknowledged renewal (or the acquisition) was sent
        self.last_step: float | None = None  # when the elector last ran a step

    def leads(self, now: float) -> bool:
        """True while this instance leads: it holds the fence and its last renewal is within the deadline."""
        return (
            self.epoch is not None
            and self.renewed_at is not None
            and now - self.renewed_at < self.settings.renew_deadline_s
        )

    def problem(self, now: float) -> str | None:
        """Why this process is not live as far as leadership goes (the election loop stalled, or it believes it
        leads without a renewal within the TTL), or None."""
        ttl = self.settings.lease_ttl_s
        if self.last_step is not None and now - self.last_step > ttl:
            return f"the election loop has not run for {now - self.last_step:.1f} s"
        if self.epoch is not None and self.renewed_at is not None and now - self.renewed_at > ttl:
            return f"leading epoch {self.epoch} without a lease renewal for {now - self.renewed_at:.1f} s"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ElectorContext:
    """The lease, the pool (for the fence), the status every incarnation shares, the clock and the hooks."""

    lease: RedisLease
    pool: asyncpg.Pool
    status: LeaseStatus
    clock: Clock
    on_gained: Callable[[int], Awaitable[None]]  # the new epoch: recover, then open the gate
    on_lost: Callable[[str], None]  # the reason: close the gate now
    on_following: Callable[[], None] = lambda: None  # another instance holds the lease: this one follows
    on_renewed: Callable[[float], None] = lambda _seconds: None  # renewal round-trip time, for /metrics
    rng: random.Random = field(default_factory=random.Random)


class LeaderElector(Actor[Tick]):
    """Takes, renews and gives up the lease; its own ticker sends it a `Tick` for every step."""

    def __init__(self, context: ElectorContext) -> None:
        self.context = context
        self._ticker: asyncio.Task[None] | None = None
        self._stepped = asyncio.Event()
        self._lease_left: float | None = None  # after a failed attempt: how long the holder's lease has left

    async def on_start(self) -> None:
        self._ticker = asyncio.create_task(self._tick(), name=f"{self.name} ticker")

    async def on_stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def handle(self, message: Tick) -> None:
        status = self.context.status
        status.last_step = self.context.clock.monotonic()
        try:
            if status.epoch is None:
                await self._try_to_lead()
            else:
                await self._renew()
        finally:
            self._stepped.set()

    async def _tick(self) -> None:
        # The next step is timed from the end of the previous one: a slow step delays the next rather than
        # queueing more, and an injected clock only moves between steps.
        clock = self.context.clock
        while True:
            self._stepped.clear()
            await self.ref.tell(Tick())
            await self._stepped.wait()
            await clock.sleep(self._next_step_in())

    def _next_step_in(self) -> float:
        context = self.context
        settings, status = context.status.settings, context.status
        jitter = context.rng.uniform(0.0, settings.renew_jitter_s)
        if status.epoch is None or status.renewed_at is None:
            every = settings.standby_every_s - jitter
            # A standby tries again at the lease's expiry if that comes first: after a leader's crash, the
            # takeover then waits for the TTL alone, not the TTL and up to one more interval.
            left, self._lease_left = self._lease_left, None
            return every if left is None else max(0.0, min(every, left))
        # Wake at the deadline at the latest, so the gate closes on time even if every renewal fails fast.
        every = settings.renew_every_s - jitter
        until_deadline = status.renewed_at + settings.renew_deadline_s - context.clock.monotonic()
        return max(0.0, min(every, until_deadline))

    async def _try_to_lead(self) -> None:
        context, status = self.context, self.context.status
        sent = context.clock.monotonic()
        try:
            if not await context.lease.acquire(status.token):
                context.on_following()
                self._lease_left = await context.lease.time_left()
                return
        except _UNAVAILABLE as exc:
            log.debug("cannot reach Redis to take the lease: %s", exc)
            return
        try:
            epoch = await asyncio.wait_for(self._take_fence(), _DATABASE_TIMEOUT_S)
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            # Without the fence this instance must not trade: give the lease back for whoever can take both.
            log.error("took the lease but not the fence (%s): giving the lease back", exc)
            with contextlib.suppress(*_UNAVAILABLE):
                await context.lease.release(status.token)
            return
        status.epoch, status.renewed_at = epoch, sent
        log.warning("leading: lease %s taken, fence epoch %d", context.lease.key, epoch)
        await context.on_gained(epoch)

    async def _take_fence(self) -> int:
        async with self.context.pool.acquire() as conn:
            return await take_fence(conn, self.context.status.instance, "lease acquired")

    async def _renew(self) -> None:
        context, status = self.context, self.context.status
        assert status.renewed_at is not None
        deadline = status.renewed_at + status.settings.renew_deadline_s
        overdue = f"no lease renewal acknowledged within {status.settings.renew_deadline_s:g} s"
        sent = context.clock.monotonic()
        if sent >= deadline:
            await step_down(context, "lost", overdue)
            return
        try:
            held = await asyncio.wait_for(context.lease.renew(status.token), deadline - sent)
        except _UNAVAILABLE as exc:
            if context.clock.monotonic() >= deadline:
                await step_down(context, "lost", f"{overdue} ({type(exc).__name__}: {exc})")
            else:
                log.warning("lease renewal failed (%s: %s); retrying before the deadline", type(exc).__name__, exc)
            return
        context.on_renewed(context.clock.monotonic() - sent)
        if held:
            status.renewed_at = sent
        else:
            await step_down(context, "lost", "the lease expired or another instance holds it")


async def step_down(context: ElectorContext, event: str, reason: str) -> None:
    """Stop leading — the lease was `lost`, or is `released` on a graceful stop: close the gate first, then
    free the key and record the change in leadership_history (both best effort and bounded in time)."""
    status = context.status
    epoch = status.epoch
    if epoch is None:
        return
    status.epoch = status.renewed_at = None
    context.on_lost(reason)
    log.log(
        logging.CRITICAL if event == "lost" else logging.WARNING,
        "no longer leading (epoch %d, %s): %s; trading paused",
        epoch,
        event,
        reason,
    )
    with contextlib.suppress(*_UNAVAILABLE):
        await asyncio.wait_for(context.lease.release(status.token), status.settings.renew_every_s)

    async def record() -> None:
        async with context.pool.acquire() as conn:
            await record_leadership(conn, epoch, status.instance, event, reason)

    try:
        await asyncio.wait_for(record(), _DATABASE_TIMEOUT_S)
    except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
        log.error("could not record leadership %s of epoch %d: %s", event, epoch, exc)
    status.token = _token(status.instance)  # the next term is a new lease


def _token(instance: str) -> str:
    # The instance's name for people reading Redis, and a nonce so that no two terms share a token.
    return f"{instance}:{secrets.token_hex(8)}"
