"""Riding out a database outage: transient connection failures are retried, never turned into a crash.

A crash counts against the message being handled (three make it a dead letter); PostgreSQL being away
for a while says nothing about the message, so the actors wait for it instead, with capped exponential
backoff and jitter. Anything else (a constraint violation, a bug) is raised at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # the connection was closed under us
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now
)


async def until_available(operation: Callable[[], Awaitable[T]], *, what: str, max_wait_s: float = 1.0) -> T:
    """Run `operation`, retrying it while the database is unreachable; re-raise any other error."""
    try:
        return await operation()  # the common case, without the retry machinery's cost on the hot path
    except TRANSIENT as exc:
        log.warning("%s: database unavailable (%s), retrying", what, exc)
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential_jitter(multiplier=0.05, max=max_wait_s, jitter=0.05),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "%s: database unavailable (%s), retrying", what, state.outcome.exception() if state.outcome else "?"
        ),
    )
    async for attempt in retrying:
        with attempt:
            return await operation()
    raise AssertionError("unreachable: AsyncRetrying without a stop never gives up")
