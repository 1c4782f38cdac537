"""`basso run` opens its pools once PostgreSQL answers (basso/store/pools.py): a database that comes up late is
waited for, a refusal that waiting cannot mend is one line at once, and a database that never answers is one line
after the wait. Real PostgreSQL, behind a TCP proxy the test cuts."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from basso.store.pools import AUDIT_CONNECTIONS, MAIN_CONNECTIONS, DatabaseUnavailable, open_pools
from tests.tcpproxy import proxy_to, through


class Tries(logging.Handler):
    """Sets `tried` when the pools log a failed attempt: the test then knows PostgreSQL was asked and refused."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.tried = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "not reachable" in record.getMessage():
            self.tried.set()


async def test_a_database_that_answers_late_is_waited_for_and_migrated(fresh_database: str) -> None:
    tries = Tries()
    logging.getLogger("basso.store.pools").addHandler(tries)
    try:
        async with proxy_to(urlsplit(fresh_database).port or 5432) as proxy:
            proxy.cut()  # PostgreSQL is not there yet
            opening = asyncio.create_task(
                open_pools(through(proxy.port, fresh_database), idle_in_transaction_ms=10_000, wait_s=60)
            )
            await asyncio.wait_for(tries.tried.wait(), 30)
            proxy.restore()  # and now it is
            pools = await asyncio.wait_for(opening, 30)
            try:
                assert await pools.main.fetchval("SELECT count(*) > 0 FROM schema_migrations")
                assert await pools.audit.fetchval("SHOW synchronous_commit") == "off"
            finally:
                await pools.close()
    finally:
        logging.getLogger("basso.store.pools").removeHandler(tries)


async def test_a_database_that_never_answers_is_one_line_after_the_wait(fresh_database: str) -> None:
    async with proxy_to(urlsplit(fresh_database).port or 5432) as proxy:
        proxy.cut()
        url = through(proxy.port, fresh_database)
        with pytest.raises(DatabaseUnavailable) as refused:
            await open_pools(url, idle_in_transaction_ms=10_000, wait_s=0.5)
    assert str(refused.value).startswith(f"PostgreSQL at 127.0.0.1:{proxy.port}/")
    assert "did not answer within 0.5 s" in str(refused.value)


async def test_a_database_that_does_not_exist_is_one_line_at_once_without_the_password(fresh_database: str) -> None:
    parts = urlsplit(fresh_database)
    netloc = f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}"
    url = urlunsplit((parts.scheme, netloc, "/no_such_database", "", ""))
    with pytest.raises(DatabaseUnavailable) as refused:
        await open_pools(url, idle_in_transaction_ms=10_000, wait_s=60)  # not waited for: waiting cannot mend it
    message = str(refused.value)
    assert message.startswith(f"PostgreSQL at {parts.hostname}:{parts.port}/no_such_database refused Basso: ")
    assert "not-the-password" not in message


async def test_every_connection_is_open_before_the_first_request(fresh_database: str) -> None:
    # Opened under load, a connection holds up the requests queued for it: both pools open all of theirs at once.
    pools = await open_pools(fresh_database, idle_in_transaction_ms=10_000, wait_s=30)
    try:
        database = urlsplit(fresh_database).path.lstrip("/")
        admin = await asyncpg.connect(fresh_database)
        try:
            opened = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
            )
        finally:
            await admin.close()
        assert opened == MAIN_CONNECTIONS + AUDIT_CONNECTIONS == 16
        assert (pools.main.get_idle_size(), pools.audit.get_idle_size()) == (MAIN_CONNECTIONS, AUDIT_CONNECTIONS)
    finally:
        await pools.close()
