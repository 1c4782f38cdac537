"""The dashboard in a real browser: the real app on a real socket over a migrated PostgreSQL, a solo leader's
pipeline behind it (its commits notify the dashboard's feed, as `basso run` wires it), and Debian's headless
Chromium driven by Playwright for Python (never `playwright install`: the browser is the system's)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright

from basso.config import Config, load_config
from basso.http.app import build_app
from basso.http.ratelimit import RateLimiter
from basso.http.state import Services
from basso.pipeline import Pipeline
from basso.store.fence import take_fence
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader

SECRET = "test-secret"
ADMIN_TOKEN = "admin-token-for-the-browser"
NOW = datetime(2026, 11, 25, 5, 0, 0, tzinfo=UTC)  # 10:30 IST: Bank Nifty's lot size is 30
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
# The page's panels, by element id, in the order of its templates.
PANELS = (
    "panel-header",
    "panel-heat",
    "panel-equity",
    "panel-layers",
    "panel-signals",
    "panel-alerts",
    "panel-rollover",
    "panel-controls",
)


@dataclass
class Dashboard:
    """The running app, its pipeline and a client for its API and webhook."""

    server: TestServer
    services: Services
    session: aiohttp.ClientSession
    outcomes: Outcomes
    pipeline: Pipeline | None

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    async def signal(self, **fields: Any) -> str:
        """Post one signal to the webhook; its idempotency key once accepted."""
        body = {"secret": SECRET, **fields}
        async with self.session.post(self.server.make_url("/webhook"), data=orjson.dumps(body)) as response:
            reply = await response.json()
        assert (response.status, reply["status"]) == (200, "accepted"), reply
        key: str = reply["signal_id"]
        return key

    async def get(self, path: str) -> Any:
        async with self.session.get(self.server.make_url(path)) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def _serve(services: Services, outcomes: Outcomes, pipeline: Pipeline | None) -> AsyncIterator[Dashboard]:
    server = TestServer(build_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Dashboard(server=server, services=services, session=session, outcomes=outcomes, pipeline=pipeline)
    finally:
        await server.close()


def _services(pool: asyncpg.Pool, config: Config, instance: str) -> Services:
    return Services(
        config=config,
        pool=pool,
        webhook_secret=SECRET,
        admin_token=ADMIN_TOKEN,
        wall_clock=lambda: NOW,
        limiter=RateLimiter(per_minute=10_000, clock=lambda: 0.0),
        migrated=True,
        recovered=lambda: True,
        instance=instance,
    )


@pytest.fixture
async def dashboard(migrated_database: str, config: Config) -> AsyncIterator[Dashboard]:
    """The leader's dashboard: ₹50 L deposited, the pipeline trading, each commit notifying the feed."""
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=10)
    assert pool is not None
    services = _services(pool, config, "browser-test")
    epoch = await solo_leader(pool, NOW)
    outcomes = Outcomes()
    pipeline = pipeline_for(pool, config, epoch, outcomes, services.feed.notify)

    def stored() -> None:  # as `basso run` wires it: the pipeline and the open pages hear of a stored signal
        pipeline.wake()
        services.feed.notify()

    services.wake_processor = stored
    services.is_leader = lambda: pipeline.gate.leader
    services.epoch = lambda: epoch if pipeline.gate.leader else None
    services.lease_age_s = lambda: 0.4
    await pipeline.start()
    pipeline.open()
    try:
        async for running in _serve(services, outcomes, pipeline):
            yield running
    finally:
        await pipeline.stop()
        await pool.close()


@pytest.fixture
async def follower_dashboard(migrated_database: str, config: Config) -> AsyncIterator[Dashboard]:
    """A follower's dashboard: another instance ("leader-host") holds the fence; this one trades nothing."""
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=10)
    assert pool is not None
    async with pool.acquire() as conn:
        await take_fence(conn, "leader-host", "elected elsewhere")
    services = _services(pool, config, "follower-host")
    try:
        async for running in _serve(services, Outcomes(), None):
            yield running
    finally:
        await pool.close()


@pytest.fixture
async def openalgo_dashboard(migrated_database: str, tmp_path: Path) -> AsyncIterator[Dashboard]:
    """The dashboard of an instance trading through OpenAlgo (`[broker] kind = "openalgo"`, checks every 300 s),
    holding the fence (epoch 1) with no pipeline: a test records the facts itself, as the order desk would."""
    settings = tmp_path / "basso.toml"
    settings.write_text('[broker]\nkind = "openalgo"\nurl = "http://127.0.0.1:5000"\n', "utf-8")
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=10)
    assert pool is not None
    async with pool.acquire() as conn:
        await take_fence(conn, "openalgo-host", "elected")
    services = _services(pool, load_config(settings), "openalgo-host")
    try:
        async for running in _serve(services, Outcomes(), None):
            yield running
    finally:
        await pool.close()


@dataclass
class Watched:
    """A page and what it did: console errors, uncaught exceptions and every request it made."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self, origin: str) -> None:
        assert self.errors == [], self.errors
        outside = [url for url in self.requests if not url.startswith(origin) and not url.startswith("data:")]
        assert outside == [], f"requests leaving {origin}: {outside}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_page(browser: Browser, url: str, *, width: int = 1280, height: int = 900) -> Watched:
    """A new page at `url` in a viewport of `width` × `height`, watched from before it loads."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    watched = Watched(page=page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text}")

    def request(sent: Request) -> None:
        watched.requests.append(sent.url)

    page.on("console", console)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
    page.on("request", request)
    await page.goto(url, wait_until="load")
    # The event stream is open once htmx's SSE extension has connected: changes from here on reach the page.
    await page.wait_for_selector("body[data-live=true]", state="attached", timeout=5000)
    return watched
