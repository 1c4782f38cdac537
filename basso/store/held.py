"""A connection an actor keeps for its lifetime instead of borrowing one from the pool for every query.

Borrowing costs a reset round trip on every return; an actor that runs a few statements per signal pays
that thousands of times a second. A held connection is replaced when it breaks (the server restarted), and
a connection whose state is unknown after an error is terminated, never handed back to the pool for reuse.

An operation interrupted inside a transaction may leave it open: asyncpg rolls back on the way out, but a second
cancellation during that ROLLBACK (the pause gate and a supervisor's stop, one after the other) abandons it. Such
a connection is terminated at once, which frees the rows it locked; reused, every later statement of the actor
would run inside the abandoned transaction, commit nothing and see versions nobody else sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from basso.store.retry import TRANSIENT, until_available
from basso.store.types import Connection

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

T = TypeVar("T")


class HeldConnection:
    """One pool connection, held until released; `run` retries an operation on a fresh one after an outage."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._conn: PoolConnectionProxy[Any] | None = None

    async def run(self, operation: Callable[[Connection], Awaitable[T]], *, what: str) -> T:
        """`operation(conn)`, retried on a new connection while the database is unreachable."""

        async def attempt() -> T:
            conn = await self._connection()
            try:
                return await operation(conn)
            except TRANSIENT:
                await self.release()
                raise
            except BaseException:
                self._drop_if_mid_transaction()  # no await: this may run with a cancellation pending
                raise

        return await until_available(attempt, what=what)

    async def release(self) -> None:
        """Give the connection back; one that is broken or mid-transaction is terminated, so nobody reuses it."""
        self._drop_if_mid_transaction()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await self.pool.release(conn)
        except asyncpg.InterfaceError:
            pass  # the pool already took it back (it detaches a proxy whose connection failed)
        except TRANSIENT:
            conn.terminate()

    def _drop_if_mid_transaction(self) -> None:
        conn = self._conn
        if conn is not None and _usable(conn) and conn.is_in_transaction():
            self._conn = None
            conn.terminate()  # the pool gets its slot back (asyncpg's close callback)

    async def _connection(self) -> Connection:
        self._drop_if_mid_transaction()
        if self._conn is not None and not _usable(self._conn):
            await self.release()
        if self._conn is None:
            self._conn = await self.pool.acquire()
        return self._conn


def _usable(conn: PoolConnectionProxy[Any]) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # detached from its connection by the pool
        return False
