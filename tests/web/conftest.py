"""A real aiohttp server on a real socket, over a real migrated PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer

from basso.config import Config
from basso.http.app import build_app
from basso.http.ratelimit import RateLimiter
from basso.http.state import Services
from basso.pipeline import Pipeline
from basso.server import OutcomeObserver
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader

SECRET = "test-secret"
ADMIN_TOKEN = "admin-token"
NOW = datetime(2026, 11, 25, 5, 0, 0, tzinfo=UTC)  # 10:30 IST today: Bank Nifty's lot size is 30


@dataclass
class ManualClock:
    """A clock the test moves by hand."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Webhook:
    """A client of the running app, with the services it was built from."""

    session: aiohttp.ClientSession
    server: TestServer
    services: Services
    clock: ManualClock
    wakes: list[int]

    async def post(self, body: bytes | str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
        data = body.encode() if isinstance(body, str) else body
        async with self.session.post(self.server.make_url("/webhook"), data=data, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> tuple[int, object]:
        async with self.session.get(self.server.make_url(path)) as response:
            return response.status, await response.json(content_type=None)

    async def post_json(
        self, path: str, body: object, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST `body` to `path` as JSON (bytes as they are): the API's controls."""
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self.session.post(self.server.make_url(path), data=data, headers=headers) as response:
            return response.status, await response.json(content_type=None)


@pytest.fixture
async def webhook(migrated_database: str, config: Config) -> AsyncIterator[Webhook]:
    # A pipeline's database actors hold a connection each and its signal listener one more; webhooks need the rest.
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=8)
    assert pool is not None
    clock = ManualClock()
    wakes: list[int] = []
    services = Services(
        config=config,
        pool=pool,
        webhook_secret=SECRET,
        admin_token=ADMIN_TOKEN,
        wall_clock=lambda: NOW,
        limiter=RateLimiter(per_minute=1000, clock=clock),
        wake_processor=lambda: wakes.append(1),
        migrated=True,
        recovered=lambda: True,
    )
    server = TestServer(build_app(services))
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Webhook(session=session, server=server, services=services, clock=clock, wakes=wakes)
    await server.close()
    await pool.close()


@dataclass
class Trading:
    """The real pipeline behind the webhook, open for trading, and the outcomes it commits."""

    webhook: Webhook
    pipeline: Pipeline
    outcomes: Outcomes

    async def outcome(self, body: dict[str, Any]) -> tuple[str, str]:
        """Post a signal, wait until nothing is pending, and return its (outcome, reason)."""
        status, reply = await self.webhook.post(orjson.dumps(body))
        assert status == 200, reply
        await self.outcomes.wait_until_none_pending(self.webhook.services.pool)
        row = await self.webhook.services.pool.fetchrow(
            "SELECT outcome, reason FROM signals WHERE key = $1", reply["signal_id"]
        )
        assert row is not None
        return row["outcome"], row["reason"]


@pytest.fixture
async def trading(webhook: Webhook) -> AsyncIterator[Trading]:
    """The webhook with a solo leader's pipeline behind it (₹50 L deposited), started and open."""
    epoch = await solo_leader(webhook.services.pool, NOW)
    outcomes = Outcomes()
    services = webhook.services
    pipeline = pipeline_for(
        services.pool, services.config, epoch, outcomes, OutcomeObserver(services.metrics, services.config)
    )
    services.wake_processor = pipeline.wake
    services.is_leader = lambda: pipeline.gate.leader
    services.epoch = lambda: epoch if pipeline.gate.leader else None
    services.metrics.watch_actors(pipeline.statistics)
    await pipeline.start()
    pipeline.open()
    try:
        yield Trading(webhook, pipeline, outcomes)
    finally:
        await pipeline.stop()
