"""What the HTTP handlers share: typed application state (aiohttp AppKey), set up by the server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from basso.config import Config
from basso.http.feed import DashboardFeed
from basso.http.metrics import Metrics
from basso.http.ratelimit import RateLimiter


def _nothing() -> None:
    return None


def _no_actors() -> Mapping[str, Mapping[str, Any]]:
    return {}


@dataclass
class Services:
    """The resources and callbacks the handlers use; the server fills in the real ones."""

    config: Config
    pool: asyncpg.Pool
    webhook_secret: str
    admin_token: str
    wall_clock: Callable[[], datetime]
    limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)
    wake_processor: Callable[[], None] = _nothing
    scan_rollover: Callable[[], None] = _nothing  # ask the RolloverScanner to scan now
    is_leader: Callable[[], bool] = lambda: False
    epoch: Callable[[], int | None] = lambda: None  # the fence epoch while this instance leads
    actor_statistics: Callable[[], Mapping[str, Mapping[str, Any]]] = _no_actors
    liveness: Callable[[], str | None] = lambda: None  # why the process is not live, or None
    migrated: bool = False
    recovered: Callable[[], bool] = lambda: False  # Recovery has opened the gate, or this instance follows
    # Audit rows need not wait for the disk: the server gives them a pool with synchronous_commit off, so a
    # webhook's reply waits for one flush (its signal's), not two. A crash may lose the newest audit rows.
    audit_pool: asyncpg.Pool | None = None
    # The dashboard (basso/http/dashboard.py): the feed its live updates wait on (the server notifies it on each
    # committed outcome), this instance's name, and how long ago this instance's lease was renewed (None when
    # it does not lead).
    feed: DashboardFeed = field(default_factory=DashboardFeed)
    instance: str = ""
    lease_age_s: Callable[[], float | None] = lambda: None

    @property
    def audit(self) -> asyncpg.Pool:
        """The pool audit rows are written through."""
        return self.audit_pool or self.pool


SERVICES = web.AppKey("services", Services)
