"""The connection pools `basso run` works through, opened once PostgreSQL answers.

A server is often started before its database (a reboot, a container coming up, a network cut): connecting is
tried again, with a line in the log each time, for up to `wait_s` seconds. What waiting cannot mend — a wrong
password, a database that does not exist — is said at once, in one line naming the server (never the password).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from basso.store.migrations import migrate
from basso.store.retry import TRANSIENT

__all__ = ["DatabaseUnavailable", "Pools", "open_pools", "where"]

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be used: unreachable for longer than the wait, or it refused Basso."""


@dataclass(frozen=True, slots=True)
class Pools:
    """The pool of the trading path, and the audit rows' (synchronous_commit off)."""

    main: asyncpg.Pool
    audit: asyncpg.Pool

    async def close(self) -> None:
        await self.audit.close()
        await self.main.close()


def where(database_url: str) -> str:
    """The server and database a URL names, for messages: host:port/database, never the user or password."""
    parts = urlsplit(database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


async def open_pools(database_url: str, *, idle_in_transaction_ms: int, wait_s: float) -> Pools:
    """Both pools, on a database migrated to this version of Basso. DatabaseUnavailable (one line) if PostgreSQL
    does not answer within `wait_s` seconds, or refuses the connection for a reason waiting cannot mend."""
    server = where(database_url)
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential(multiplier=0.25, max=5.0),
        stop=stop_after_delay(wait_s),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "PostgreSQL at %s is not reachable (%s); trying again",
            server,
            state.outcome.exception() if state.outcome else "?",
        ),
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await _open(database_url, idle_in_transaction_ms)
    except TRANSIENT as failed:
        raise DatabaseUnavailable(f"PostgreSQL at {server} did not answer within {wait_s:g} s: {failed}") from None
    except asyncpg.PostgresError as refused:  # a wrong password, an unknown database or role
        raise DatabaseUnavailable(f"PostgreSQL at {server} refused Basso: {refused}") from None
    raise AssertionError("unreachable: the last attempt returns or raises")


# The actors hold one connection each for their life; the webhooks, the API and the dashboard share the rest.
MAIN_CONNECTIONS = 12
AUDIT_CONNECTIONS = 4  # the webhook's audit rows, written without waiting for the disk


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A connection given back to the pool needs no clean-up: Basso leaves no session state behind (no SET, no
    cursor; `listen_for_signals` unlistens before it gives its connection back; the migrations' advisory lock is
    released where it is taken), and asyncpg still rolls back a transaction left open. asyncpg's default reset
    (UNLISTEN *, RESET ALL, CLOSE ALL, pg_advisory_unlock_all) is one more round trip on every release: a webhook's
    two statements took four round trips with it, two without."""


async def _open(database_url: str, idle_in_transaction_ms: int) -> Pools:
    # Every connection opened at start and kept, idle or not: one opened under load (a new backend, asyncpg's
    # set-up) held up the requests queued for it by tens of milliseconds (bench/soak.py's slowest acknowledgements,
    # at its start); closed after a quiet night, the morning's first signals would open them again.
    main = await asyncpg.create_pool(
        database_url,
        min_size=MAIN_CONNECTIONS,
        max_size=MAIN_CONNECTIONS,
        max_inactive_connection_lifetime=0,
        server_settings={"idle_in_transaction_session_timeout": str(idle_in_transaction_ms)},
        reset=_keep_session,
    )
    try:
        audit = await asyncpg.create_pool(
            database_url,
            min_size=AUDIT_CONNECTIONS,
            max_size=AUDIT_CONNECTIONS,
            max_inactive_connection_lifetime=0,
            server_settings={"synchronous_commit": "off"},
            reset=_keep_session,
        )
        try:
            async with main.acquire() as conn:
                await migrate(conn)
        except BaseException:
            await audit.close()
            raise
    except BaseException:
        await main.close()
        raise
    return Pools(main=main, audit=audit)
