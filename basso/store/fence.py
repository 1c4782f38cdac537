"""The leader fence: a single-row epoch in PostgreSQL that makes a stale leader's writes impossible.

A new leader increments the epoch and gets the new value back. Every side-effecting transaction opens with
`fenced(conn, epoch)`, which reads the stored epoch under a share lock: if it is no longer ours the
transaction is rolled back and `FenceLost` raised, and the instance must demote itself. The share lock
makes a concurrent epoch increment wait until in-flight fenced transactions end, so no write can commit
after a newer leader has taken the fence. (A Redis lease alone is not safe for correctness.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from basso.store.types import Connection


class FenceLost(Exception):
    """A newer leader holds the fence; this instance must stop writing and demote itself."""

    def __init__(self, ours: int, stored: int) -> None:
        super().__init__(f"leader fence lost: our epoch {ours}, stored epoch {stored}")
        self.ours = ours
        self.stored = stored


async def take_fence(conn: Connection, holder: str, reason: str) -> int:
    """Increment the epoch for `holder`, record it in leadership_history, and return the new epoch.

    A term whose end nobody recorded (its leader crashed) is recorded as `superseded` by this one."""
    async with conn.transaction():
        previous = await conn.fetchrow("SELECT epoch, holder FROM leader_fence WHERE id = 1 FOR UPDATE")
        assert previous is not None  # sql/001 inserts the one row
        epoch: int = await conn.fetchval(
            "UPDATE leader_fence SET epoch = epoch + 1, holder = $1, changed_at = now() WHERE id = 1 RETURNING epoch",
            holder,
        )
        ended = await conn.fetchval(
            "SELECT true FROM leadership_history WHERE epoch = $1 AND event <> 'gained'", previous["epoch"]
        )
        if previous["epoch"] > 0 and not ended:
            await record_leadership(
                conn,
                previous["epoch"],
                previous["holder"],
                "superseded",
                f"no end of term recorded; {holder} took the fence at epoch {epoch}",
            )
        await record_leadership(conn, epoch, holder, "gained", reason)
    return epoch


async def record_leadership(conn: Connection, epoch: int, holder: str, event: str, reason: str) -> None:
    """Record that `holder` gained, lost, released or was superseded in leadership of `epoch`."""
    await conn.execute(
        "INSERT INTO leadership_history (epoch, holder, event, reason) VALUES ($1, $2, $3, $4)",
        epoch,
        holder,
        event,
        reason,
    )


@asynccontextmanager
async def fenced(conn: Connection, epoch: int) -> AsyncIterator[Connection]:
    """A transaction that commits only if `epoch` still holds the fence."""
    async with conn.transaction():
        stored: int = await conn.fetchval("SELECT epoch FROM leader_fence WHERE id = 1 FOR SHARE")
        if stored != epoch:
            raise FenceLost(epoch, stored)
        yield conn
