"""Health endpoints, with the semantics of Patroni and Kubernetes probes (docs/architecture.md "Health").

* `/health/live`: 503 when an actor's heartbeat or the election loop is stale, or the process believes it
  leads without a recent renewal: the service manager should restart it.
* `/health/ready`: 200 once migrations are applied and, on the leader, Recovery has opened the gate; a
  follower is ready once it finds another instance holding the lease (it stores signals).
* `/leader`: 200 only while this instance holds the lease, so a proxy can route to the leader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from basso.http.state import SERVICES


def stale_heartbeat(statistics: Mapping[str, Mapping[str, Any]], now: float, limit_s: float) -> str | None:
    """Why the process is not live if an actor has not beaten for more than `limit_s` (it beats every second
    unless it is stuck inside one message); None if every one has."""
    for path, snapshot in sorted(statistics.items()):
        beat = snapshot.get("last_heartbeat")
        if isinstance(beat, int | float) and now - beat > limit_s:
            return f"{path} has not reported a heartbeat for {now - beat:.1f} s (stuck in one message?)"
    return None


async def live(request: web.Request) -> web.Response:
    """200 while every actor and the election loop are beating; 503 naming the one that is not."""
    problem = request.app[SERVICES].liveness()
    if problem is None:
        return web.json_response({"status": "live"})
    return web.json_response({"status": "not live", "reason": problem}, status=503)


async def ready(request: web.Request) -> web.Response:
    """200 once the schema is migrated and recovery is done."""
    services = request.app[SERVICES]
    if services.migrated and services.recovered():
        return web.json_response({"status": "ready"})
    waiting = "migrations" if not services.migrated else "recovery"
    return web.json_response({"status": "not ready", "waiting_for": waiting}, status=503)


async def leader(request: web.Request) -> web.Response:
    """200 while this instance leads, 503 otherwise."""
    if request.app[SERVICES].is_leader():
        return web.json_response({"leader": True})
    return web.json_response({"leader": False}, status=503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    body = request.app[SERVICES].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
