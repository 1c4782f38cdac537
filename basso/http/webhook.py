"""`POST /webhook`: validate, authenticate, store durably, then reply — within milliseconds.

A signal is acknowledged only once its inbox row is committed. Replies (never a 5xx for anything a sender
can send; 503 only when the signal could not be stored, so TradingView resends it):

* 200 ``{"status": "accepted", "signal_id": …}`` — stored, to be processed in order;
* 200 ``{"status": "duplicate", "signal_id": …}`` — its idempotency key is already stored; nothing changes;
* 200 ``{"status": "rejected", "signal_id": …, "reason": …}`` — stored, but stale or future-dated;
* 400 ``{"status": "error", "field": …, "error": …}``; 401 (no detail); 413; 429; 503.

Every request leaves a row in ``webhook_audit`` (the secret is never stored; rejected bodies truncated).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from basso.enums import SignalOutcome
from basso.http.state import SERVICES, Services
from basso.rules.signals import (
    SignalError,
    decode_body,
    read_secret,
    secret_matches,
    signal_from_object,
    timing_problem,
)
from basso.store.inbox import audit_request, store_signal

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Basso-Secret"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the handler answers, and how it is audited."""

    status: int
    body: dict[str, Any]
    verdict: str
    field: str | None = None
    error: str | None = None
    signal_row: int | None = None  # the signals row stored (or found stored) for the request


async def webhook(request: web.Request) -> web.Response:
    """Handle one webhook request; see the module docstring for the replies."""
    services = request.app[SERVICES]
    started = time.perf_counter()
    body = b""
    source = client_address(request)  # once: the rate limit and the audit both need it
    try:
        body, reply = await _answer(request, services, source)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The database could not take the signal: say so with a 503 and TradingView resends it.
        log.warning("webhook: signal not stored: %s", exc)
        reply = Reply(
            503, {"status": "error", "error": "signal not stored, try again"}, "unavailable", error=str(exc)[:200]
        )
    await _audit(services, source, reply, body)
    services.metrics.webhook_requests.labels(reply.verdict).inc()
    services.metrics.webhook_latency.observe(time.perf_counter() - started)
    return web.Response(status=reply.status, body=orjson.dumps(reply.body), content_type="application/json")


async def _answer(request: web.Request, services: Services, source: str) -> tuple[bytes, Reply]:
    if not services.limiter.allow(source):
        return b"", Reply(429, {"status": "error", "error": "too many requests"}, "rate_limited")
    limit = services.config.signal_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return b"", _too_large(request.content_length, limit)
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        return body[:limit], _too_large(len(body), limit)
    try:
        decoded = decode_body(body, limit)
        given = request.headers.get(SECRET_HEADER) or read_secret(decoded)
    except SignalError as exc:
        return body, _bad(exc)
    if not secret_matches(given, services.webhook_secret):
        return body, Reply(401, {"status": "error", "error": "unauthorised"}, "unauthorised")
    try:
        signal = signal_from_object(decoded, services.config)
    except SignalError as exc:
        return body, _bad(exc)
    problem = timing_problem(
        signal,
        services.wall_clock(),
        max_age_s=services.config.signal_max_age_s,
        max_future_s=services.config.signal_max_future_s,
    )
    stored = await store_signal(
        services.pool,
        signal,
        outcome=SignalOutcome.REJECTED if problem else SignalOutcome.PENDING,
        reason=problem or "",
    )
    key = stored.key
    if stored.duplicate:
        return body, Reply(200, {"status": "duplicate", "signal_id": key}, "duplicate", signal_row=stored.id)
    if problem:
        return body, Reply(
            200,
            {"status": "rejected", "signal_id": key, "reason": problem},
            "stale",
            error=problem,
            signal_row=stored.id,
        )
    services.wake_processor()
    return body, Reply(200, {"status": "accepted", "signal_id": key}, "accepted", signal_row=stored.id)


def _too_large(size: int, limit: int) -> Reply:
    error = f"body is {size} bytes, more than the {limit}-byte limit"
    return Reply(413, {"status": "error", "field": "body", "error": error}, "too_large", field="body", error=error)


def _bad(exc: SignalError) -> Reply:
    return Reply(
        400,
        {"status": "error", "field": exc.field, "error": exc.message},
        "invalid",
        field=exc.field,
        error=exc.message,
    )


def client_address(request: web.Request) -> str:
    """The sender: the peer address, or, when the peer is a trusted proxy (`[server] trusted_proxies`), the
    nearest X-Forwarded-For hop that is not itself a trusted proxy (read from the right: a sender can put
    anything at the left of the header, but each proxy appends the address it saw)."""
    peer = request.remote or "unknown"
    trusted = request.app[SERVICES].config.server.trusted_proxies
    if not _among(peer, trusted):
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _among(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _among(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False  # not an address (a Unix socket's peer, or garbage in a header): never trusted
    return any(ip in network for network in networks)


async def _audit(services: Services, source: str, reply: Reply, body: bytes) -> None:
    try:
        await audit_request(
            services.audit,
            source=source,
            http_status=reply.status,
            verdict=reply.verdict,
            body=_without_secret(body, services.webhook_secret),
            field=reply.field,
            error=reply.error,
            signal=reply.signal_row,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The audit is best effort: losing it must not turn a stored signal into an error reply.
        log.warning("webhook: audit not written: %s", exc)


def _without_secret(body: bytes, secret: str) -> bytes:
    """The body as the audit may keep it: no `secret` field, and never the real secret anywhere in it."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and "secret" in decoded:
        decoded["secret"] = "***"
        body = orjson.dumps(decoded)
    # A malformed body may still carry the real secret somewhere: blank every copy.
    return body.replace(secret.encode(), b"***") if secret else body
