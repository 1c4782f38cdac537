"""`basso run`: storage (embedded or by URL), migrations, the pipeline with its leader election, and the HTTP
server.

Every instance stores webhooks; the one holding the Redis lease trades. Startup is the recovery path
(crash-only design): every start migrates, and every leadership gain takes the fence, rebuilds the book from
the facts (booking the initial capital on a new database) and processes whatever was left pending, before
the gate opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from basso.actors.elector import LeaseStatus
from basso.brokers.openalgo import OpenAlgoClient
from basso.config import Config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from basso.gcpolicy import collect_and_freeze, freeze_survivors, tune_collector, watch_collections
from basso.http.app import build_app
from basso.http.feed import DashboardFeed
from basso.http.health import stale_heartbeat
from basso.http.metrics import Metrics
from basso.http.ratelimit import RateLimiter
from basso.http.state import Services
from basso.looplag import watch_loop_lag
from basso.messages import Settled
from basso.notifications import Notifier, Targets
from basso.pipeline import Hooks, Leadership, Pipeline, Runtime
from basso.rules.book import Book
from basso.rules.contracts import contract_now
from basso.rules.portfolio import measure_portfolio
from basso.store.lease import RedisLease
from basso.store.pools import open_pools
from basso.store.warm import warm_connections
from basso.supervisor import EXIT_ESCALATED

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


def liveness(pipeline: Pipeline, status: LeaseStatus) -> str | None:
    """Why this process is not live (/health/live answers 503 with it), or None."""
    if not pipeline.root.healthy():
        return "the supervision tree is down"
    now = pipeline.clock.monotonic()
    return status.problem(now) or stale_heartbeat(pipeline.statistics(), now, status.settings.lease_ttl_s)


def lease_age(pipeline: Pipeline, status: LeaseStatus) -> float | None:
    """Seconds since this instance's lease was last renewed, while it leads (the dashboard's header)."""
    if status.renewed_at is None or status.epoch is None:
        return None
    return pipeline.clock.monotonic() - status.renewed_at


def _leadership_metrics(metrics: Metrics) -> Callable[[int | None], None]:
    def changed(epoch: int | None) -> None:
        metrics.leader_epoch.set(epoch or 0)
        metrics.leadership_transitions.inc()

    return changed


def outcome_line(settled: Settled) -> str:
    """One line for the log per committed outcome: the signal, what happened, the lots it moved and why."""
    decision, payload = settled.decision, settled.pending.payload
    lots = sum(entry.lots for entry in decision.entries) + sum(exit.lots for exit in decision.exits)
    what = " ".join(
        str(payload[key]).upper() if key != "position" else str(payload[key])
        for key in ("type", "instrument", "position")
        if key in payload
    )
    return (
        f"signal {settled.pending.key} ({what}): {decision.outcome.value}, {lots} lot{'' if lots == 1 else 's'}"
        f" — {decision.reason}"
    )


class OutcomeObserver:
    """Counts outcomes as they commit and keeps the book after the latest one. The portfolio gauges are
    computed from that book when /metrics is scraped, not on every commit: the commit is the hot path."""

    def __init__(self, metrics: Metrics, config: Config) -> None:
        self.metrics = metrics
        self.config = config
        self.book: Book | None = None
        metrics.portfolio_risk_pct.set_function(lambda: self._measure("risk_pct"))
        metrics.portfolio_vol_pct.set_function(lambda: self._measure("vol_pct"))
        metrics.margin_utilisation_pct.set_function(lambda: self._measure("margin_utilisation_pct"))
        metrics.open_positions.set_function(lambda: len(self.book.layers) if self.book else 0)

    def __call__(self, settled: Settled) -> None:
        self.metrics.signals.labels(settled.decision.outcome.value).inc()
        self.book = settled.book
        log.info("%s", outcome_line(settled))

    def _measure(self, name: str) -> float:
        if self.book is None:
            return 0.0  # nothing committed by this process yet
        measures = measure_portfolio(self.book.snapshot(self.config), self.config.portfolio)
        return float(getattr(measures, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything `basso run` needs beyond the configuration file, already resolved from flags and env."""

    host: str
    port: int
    data_dir: Path
    database_url: str
    redis_url: str
    capital: Decimal
    webhook_secret: str
    admin_token: str
    openalgo_api_key: str = field(default="", repr=False)  # never logged: repr leaves it out
    instance: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")


# How often the event-loop lag is sampled: often enough that a stall of a few tens of milliseconds (a long
# collection, a blocking call) is caught rather than slept through; 20 timers a second cost nothing measurable.
LOOP_LAG_INTERVAL_S = 0.05

# The stored facts cannot be traded on (Recovery found a corrupt row): restarting would not help, so the exit
# status says "configuration or data error" (EX_DATAERR) rather than asking the service manager to retry.
EXIT_CORRUPT_FACTS = 65
ROLL_SCAN_S = 3600.0  # the RolloverScanner's hourly scan (it skips instruments whose market is closed)
BAR_GAP_CHECK_S = 60.0  # how often the StopTrailer looks for instruments whose bar closes stopped
DATABASE_WAIT_S = 60.0  # how long a start waits for PostgreSQL to answer before it gives up, in one line


def warm_up(config: Config, now: datetime) -> None:
    """Build now what the first decisions would otherwise build on the event loop: each instrument's trading
    calendar and current contract. The `holidays` package imports some 300 modules the first time a calendar asks
    it for an exchange's holidays: 150 ms during which nothing else ran, the longest stall of a 10-minute soak."""
    for name in config.instruments:
        try:
            contract_now(config, name, now)
        except Exception as exc:  # a warm-up, not a check: the instrument's first order meets the same error
            log.warning("%s: its current contract could not be worked out at start-up: %s", name, exc)


async def _another_leads(lease: RedisLease) -> bool:
    """Whether another instance holds the lease: this one starts as its standby (if Redis does not answer, as if
    one did: nobody can lead until it does)."""
    try:
        return await lease.holder() is not None
    except (RedisError, OSError):
        return True


async def _until_stopped_or_escalated(stop: asyncio.Event, pipeline: Pipeline) -> int:
    stopped = asyncio.create_task(stop.wait())
    exited = asyncio.create_task(pipeline.root.wait_exited())
    halted = asyncio.create_task(pipeline.halted.wait())
    try:
        await asyncio.wait((stopped, exited, halted), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopped, exited, halted):
            task.cancel()
    if pipeline.halt_reason is not None:
        log.critical(
            "%s: exiting with status %d; fix the data before starting again", pipeline.halt_reason, EXIT_CORRUPT_FACTS
        )
        return EXIT_CORRUPT_FACTS
    if stopped.done() and not stopped.cancelled():
        log.info("stopping: no new webhooks; the signal in flight is finished or left pending")
        return 0
    log.critical("the supervision tree gave up: exiting with status %d for the service manager", EXIT_ESCALATED)
    return EXIT_ESCALATED


def read_or_create_secret(path: Path) -> tuple[str, bool]:
    """The secret kept in `path`, made (0600) on first use; True when it was just created."""
    if path.exists():
        return path.read_text("utf-8").strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value, True


@contextlib.asynccontextmanager
async def storage(options: RunOptions) -> AsyncIterator[tuple[str, str]]:
    """Database and Redis URLs: the configured servers, or embedded ones under the data directory."""
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    database_url, redis_url = options.database_url, options.redis_url
    try:
        if not database_url:
            postgres = EmbeddedPostgres(options.data_dir / "postgres")
            database_url = await asyncio.to_thread(postgres.start)
            started.append(postgres)
        if not redis_url:
            redis = EmbeddedRedis(options.data_dir / "redis")
            redis_url = await asyncio.to_thread(redis.start)
            started.append(redis)
        yield database_url, redis_url
    finally:
        for server in reversed(started):
            await asyncio.to_thread(server.stop)


async def serve(
    config: Config, options: RunOptions, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> int:
    """Run until SIGTERM/SIGINT (or `stop`): the in-flight signal finishes or stays pending, never half-written.

    Returns the process exit status: 0 after a requested stop, `EXIT_ESCALATED` when the supervision tree
    gave up (restarts past its intensity), so the service manager starts a fresh process.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    leadership = config.leadership
    targets = Targets(config.notifications.urls, config.notifications.timeout_s)  # a bad URL: refused before starting
    # Everything taken is given back in reverse order, whichever step fails: the HTTP site and the loop-lag
    # watch first, then the pipeline (the signal in flight finishes or stays pending), Redis, the pools, and
    # the embedded servers last.
    async with contextlib.AsyncExitStack() as resources:
        database_url, redis_url = await resources.enter_async_context(storage(options))
        # A leader frozen inside a fenced transaction (SIGSTOP, a VM pause) holds the fence's share lock, and with
        # it the takeover: the server ends a transaction left idle for longer than two lease terms, so a newer
        # leader can take the fence (ours never idle that long: their statements are sent back to back).
        pools = await open_pools(
            database_url, idle_in_transaction_ms=int(leadership.lease_ttl_s * 2000), wait_s=DATABASE_WAIT_S
        )
        resources.push_async_callback(pools.close)
        pool, audit_pool = pools.main, pools.audit
        redis = aioredis.from_url(
            redis_url, socket_connect_timeout=leadership.renew_every_s, socket_timeout=leadership.renew_deadline_s
        )
        resources.push_async_callback(redis.aclose)
        lease = RedisLease(redis, leadership.key, leadership.lease_ttl_s)
        # A standby warms its connections for the takeover. An instance about to lead does not wait for that: its
        # Recovery reads the same, and on a big book reading it on every connection took 0.3-0.4 s.
        if await _another_leads(lease):
            await warm_connections(pool, config)
        metrics = Metrics()
        feed = DashboardFeed()
        observer = OutcomeObserver(metrics, config)

        def on_commit(settled: Settled) -> None:
            observer(settled)
            feed.notify()  # open dashboards redraw now, not at their next poll
            notifier.wake()  # and the phone hears of a fill now

        status = LeaseStatus(options.instance, leadership)
        client = None
        if config.broker.kind == "openalgo":  # its API key is in `options`, never in the configuration
            client = OpenAlgoClient(
                base_url=config.broker.url,
                api_key=options.openalgo_api_key,
                timeout_s=config.broker.timeout_s,
                orders_per_second=config.broker.orders_per_second,
            )
            resources.push_async_callback(client.close)
        pipeline = Pipeline(
            pool=pool,
            config=config,
            wall_clock=utc_now,
            leadership=Leadership(lease=lease, status=status, capital=options.capital),
            hooks=Hooks(
                on_leadership=_leadership_metrics(metrics),
                on_renewed=metrics.lease_renew_latency.observe,
                on_commit=on_commit,
                on_recovered=lambda _epoch: freeze_survivors(),
            ),
            runtime=Runtime(
                sweep_every_s=config.server.pending_sweep_s,
                bar_gap_every_s=BAR_GAP_CHECK_S,
                roll_scan_every_s=ROLL_SCAN_S,
            ),
            broker_client=client,
        )
        resources.push_async_callback(_stop_pipeline, pipeline)
        services = _services(config, options, pool, audit_pool, metrics, pipeline, status, feed)
        notifier = Notifier(
            pool=pool, settings=config.notifications, targets=targets, epoch=services.epoch, wall_clock=utc_now
        )
        runner = web.AppRunner(build_app(services), access_log=None)
        await runner.setup()
        resources.push_async_callback(runner.cleanup)
        resources.callback(watch_collections(metrics.collected))
        tune_collector()
        warm_up(config, utc_now())
        collect_and_freeze()  # start-up's objects live as long as the process (basso/gcpolicy.py)
        # Watched from here: start-up's own pauses (that collection, the calendars) come before anyone is served.
        lag = asyncio.create_task(watch_loop_lag(metrics.loop_lagged, interval_s=LOOP_LAG_INTERVAL_S), name="loop lag")
        resources.callback(lag.cancel)
        await pipeline.start()
        notifier.start()  # sends only while this instance leads
        resources.push_async_callback(notifier.stop)  # first at the exit: the message in flight is recorded
        await web.TCPSite(runner, options.host, options.port).start()
        freeze_survivors()
        log.info("serving on http://%s:%s as %s", options.host, options.port, options.instance)
        if ready is not None:
            ready.set()
        return await _until_stopped_or_escalated(stop, pipeline)


async def _stop_pipeline(pipeline: Pipeline) -> None:
    await pipeline.stop()
    log.info("stopped")


def _services(
    config: Config,
    options: RunOptions,
    pool: asyncpg.Pool,
    audit_pool: asyncpg.Pool,
    metrics: Metrics,
    pipeline: Pipeline,
    status: LeaseStatus,
    feed: DashboardFeed,
) -> Services:
    """What the HTTP handlers use, wired to this pipeline and its lease."""

    def stored() -> None:
        pipeline.wake()
        feed.notify()  # a stored signal shows on open dashboards (pending) before it is decided

    def is_leader() -> bool:
        # The lease is unexpired as far as this instance can know, and no commit has found the fence taken.
        return status.leads(pipeline.clock.monotonic()) and pipeline.gate.leader

    metrics.watch_actors(pipeline.statistics)
    return Services(
        config=config,
        pool=pool,
        audit_pool=audit_pool,
        webhook_secret=options.webhook_secret,
        metrics=metrics,
        admin_token=options.admin_token,
        wall_clock=utc_now,
        limiter=RateLimiter(per_minute=config.server.rate_limit_per_minute, clock=asyncio.get_running_loop().time),
        wake_processor=stored,
        scan_rollover=pipeline.scan,
        is_leader=is_leader,
        epoch=lambda: pipeline.epoch if is_leader() else None,
        actor_statistics=pipeline.statistics,
        migrated=True,
        recovered=lambda: pipeline.ready,
        liveness=lambda: liveness(pipeline, status),
        feed=feed,
        instance=options.instance,
        lease_age_s=lambda: lease_age(pipeline, status),
    )
