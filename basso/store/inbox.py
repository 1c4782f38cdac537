"""The signal inbox: durable storage of every accepted signal, and the audit of every webhook request.

Storing is not fenced: any instance, leader or not, may store signals, so a signal that arrives during a
failover is kept. Only the leader processes them (see basso.store.outcomes); every pending signal stored
notifies it (sql/003), and `listen_for_signals` is how it hears.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import orjson

from basso.enums import SignalOutcome
from basso.rules.signals import Signal, idempotency_key, to_payload
from basso.store.types import Executor

# Rejected bodies are kept for diagnosis, but never more than this many characters.
AUDIT_BODY_CHARS = 2048
SIGNAL_STORED = "basso_signal_stored"  # the channel sql/003's trigger notifies for each pending signal stored


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSignal:
    """The answer to storing a signal: its row id, its idempotency key and whether it was already there."""

    id: int
    key: str
    duplicate: bool
    outcome: SignalOutcome


async def store_signal(
    conn: Executor, signal: Signal, *, outcome: SignalOutcome = SignalOutcome.PENDING, reason: str = ""
) -> StoredSignal:
    """Insert `signal` under its idempotency key unless that key is already stored; either way return its row."""
    key = idempotency_key(signal)
    row = await conn.fetchrow(
        "INSERT INTO signals (key, client_signal_id, kind, instrument, layer, signal_time, payload, outcome, reason,"
        " processed_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9,"
        " CASE WHEN $8 = 'pending' THEN NULL ELSE now() END)"
        " ON CONFLICT (key) DO NOTHING RETURNING id, outcome",
        key,
        signal.signal_id,
        signal.kind,
        signal.instrument,
        signal.layer,
        signal.timestamp,
        orjson.dumps(to_payload(signal)).decode(),
        outcome.value,
        reason,
    )
    if row is not None:
        return StoredSignal(id=row["id"], key=key, duplicate=False, outcome=SignalOutcome(row["outcome"]))
    existing = await conn.fetchrow("SELECT id, outcome FROM signals WHERE key = $1", key)
    assert existing is not None, "a conflicting key must exist"
    return StoredSignal(id=existing["id"], key=key, duplicate=True, outcome=SignalOutcome(existing["outcome"]))


async def audit_request(
    conn: Executor,
    *,
    source: str,
    http_status: int,
    verdict: str,
    body: bytes,
    field: str | None = None,
    error: str | None = None,
    signal: int | None = None,
) -> None:
    """Record one webhook request, whatever became of it."""
    text = body[: AUDIT_BODY_CHARS * 4].decode("utf-8", errors="replace")[:AUDIT_BODY_CHARS]
    await conn.execute(
        "INSERT INTO webhook_audit (source, http_status, verdict, field, error, signal, body)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        _storable(source),
        http_status,
        verdict,
        _storable(field),
        _storable(error),
        signal,
        _storable(text),
    )


def _storable(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL, and a sender controls every one of these strings: the field named in an
    # error is the sender's key, the error quotes the sender's value, the source may come from X-Forwarded-For.
    return None if text is None else text.replace("\x00", "\ufffd")


async def listen_for_signals(
    pool: asyncpg.Pool, on_stored: Callable[[], None], on_lost: Callable[[], None] = lambda: None
) -> Callable[[], Awaitable[None]]:
    """Call `on_stored` whenever a pending signal is stored, by any instance, and `on_lost` if the listening
    connection (held until then) drops; returns the coroutine function that stops listening and gives the
    connection back."""
    conn = await pool.acquire()

    def notified(*_details: object) -> None:
        on_stored()

    try:
        await conn.add_listener(SIGNAL_STORED, notified)
        conn.add_termination_listener(lambda _conn: on_lost())
    except BaseException:
        await pool.release(conn)
        raise

    async def stop() -> None:
        try:
            await conn.remove_listener(SIGNAL_STORED, notified)
        finally:
            await pool.release(conn)

    return stop
