"""Warm every connection of a pool before the first signal needs it.

A connection's first statements are slow: its PostgreSQL backend reads the catalogue for each table, index and
function it meets for the first time, and asyncpg asks the server about each type it has not decoded on that
connection before (one more query, itself planned on a cold backend). A standby's connections had met none of the
trading tables when its leader died, so a takeover paid all of this while trading waited: half of the 0.1 s
between the lease running out and the first signal processed (bench/failover.py, with PostgreSQL's statement log).
Reading what a takeover reads, once on every connection at start, pays it while nothing waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from basso.config import Config
from basso.store.book import CorruptFacts, load_book
from basso.store.orders import working_orders
from basso.store.outcomes import pending_signals
from basso.store.reads import fence_holder, pending_count
from basso.store.retry import TRANSIENT
from basso.store.types import Connection

__all__ = ["warm_connections"]

log = logging.getLogger(__name__)


async def warm_connections(pool: asyncpg.Pool, config: Config) -> None:
    """Run a takeover's reads once on each of the pool's connections. Reads only, and no locks: safe on a follower,
    beside a leader at work. A warm-up, not a check: a database that goes away meanwhile is said in one line, and
    the start goes on."""
    started = time.monotonic()
    try:
        warmed, corrupt = await _warm_each(pool, config)
    except* TRANSIENT as cut:
        log.warning("database connections not warmed (%s): their first reads will be slower", cut.exceptions[0])
    else:
        log.info("%d database connections warmed in %.0f ms", warmed, (time.monotonic() - started) * 1000)
        if corrupt:  # Recovery refuses these facts when this instance comes to lead, naming the row
            log.warning("the stored facts cannot be traded on (Recovery will refuse them): %s", corrupt)


async def _warm_each(pool: asyncpg.Pool, config: Config) -> tuple[int, CorruptFacts | None]:
    """How many connections were warmed (all held at once, so that each read runs on a different one), and the
    facts Recovery will refuse, if any."""
    async with contextlib.AsyncExitStack() as held:
        connections = [await held.enter_async_context(pool.acquire()) for _ in range(pool.get_max_size())]
        async with asyncio.TaskGroup() as group:
            reads = [group.create_task(_read_as_a_takeover(conn, config)) for conn in connections]
    return len(reads), reads[0].result()


async def _read_as_a_takeover(conn: Connection, config: Config) -> CorruptFacts | None:
    await fence_holder(conn)
    try:
        await load_book(conn, config)  # its statement has run (and is warm) by the time it can refuse a row
        corrupt = None
    except CorruptFacts as exc:
        corrupt = exc
    await pending_count(conn)
    await pending_signals(conn, limit=1)
    await working_orders(conn)
    return corrupt
