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
from dataclasses import dataclass
from typing import Any

from basso.enums import AlertLevel
from basso.store.alerts import raise_alert
from basso.store.types import Connection


class FenceLost(Exception):
    """A newer leader holds the fence; this instance must stop writing and demote itself."""

    def __init__(self, ours: int, stored: int) -> None:
        super().__init__(f"leader fence lost: our epoch {ours}, stored epoch {stored}")
        self.ours = ours
        self.stored = stored


@dataclass(frozen=True, slots=True)
class Predecessor:
    """The term a new leader took over from: its epoch, its holder and how it ended."""

    epoch: int
    holder: str
    ended: str  # released | lost | superseded


async def take_fence(conn: Connection, holder: str, reason: str) -> int:
    """Increment the epoch for `holder`, record it in leadership_history, and return the new epoch.

    A term whose end nobody recorded (its leader crashed) is recorded as `superseded` by this one. Each row
    raises its alert in the same transaction, which holds the fence row locked at the new epoch: the new
    leader writes what it knows, the takeover, fenced by its own epoch."""
    async with conn.transaction():
        previous = await conn.fetchrow("SELECT epoch, holder FROM leader_fence WHERE id = 1 FOR UPDATE")
        assert previous is not None  # sql/001 inserts the one row
        epoch: int = await conn.fetchval(
            "UPDATE leader_fence SET epoch = epoch + 1, holder = $1, changed_at = now() WHERE id = 1 RETURNING epoch",
            holder,
        )
        ended: str | None = await conn.fetchval(
            "SELECT event FROM leadership_history WHERE epoch = $1 AND event <> 'gained' ORDER BY id LIMIT 1",
            previous["epoch"],
        )
        if previous["epoch"] > 0 and not ended:
            ended = "superseded"
            await record_leadership(
                conn,
                previous["epoch"],
                previous["holder"],
                ended,
                f"no end of term recorded; {holder} took the fence at epoch {epoch}",
            )
        took_over = Predecessor(previous["epoch"], previous["holder"], ended) if ended else None
        await record_leadership(conn, epoch, holder, "gained", reason, took_over=took_over)
    return epoch


# How urgent each change of leader is (an alert, docs/rules.md §10): a lost lead pauses trading until a standby
# takes over, so the trader is needed now; a superseded term was a crash its successor already covers.
_LEVELS = {
    "gained": AlertLevel.INFO,
    "released": AlertLevel.INFO,
    "superseded": AlertLevel.WARNING,
    "lost": AlertLevel.CRITICAL,
}


async def record_leadership(
    conn: Connection, epoch: int, holder: str, event: str, reason: str, *, took_over: Predecessor | None = None
) -> None:
    """Record that `holder` gained, lost, released or was superseded in leadership of `epoch`, with its alert
    (one transaction). A gain and a superseded term are written by the new leader inside `take_fence`; a loss
    or a release by the instance itself as it steps down, outside the fence it no longer holds (its own word on
    its own term, which changes no trading fact). A term's end is one alert however many rows record it: a
    leader that recorded its own loss late, after its successor recorded it superseded, raises nothing new
    while the first is open."""
    level = _LEVELS.get(event)
    if level is None:
        raise ValueError(f"leadership event {event!r} is not one of {', '.join(_LEVELS)}")
    async with conn.transaction():
        at = await conn.fetchval(
            "INSERT INTO leadership_history (epoch, holder, event, reason) VALUES ($1, $2, $3, $4) RETURNING at",
            epoch,
            holder,
            event,
            reason,
        )
        detail: dict[str, Any] = {"epoch": epoch, "instance": holder, "event": event, "reason": reason}
        if took_over is not None:
            predecessor = {"epoch": took_over.epoch, "instance": took_over.holder, "ended": took_over.ended}
            detail["took_over_from"] = predecessor
        await raise_alert(
            conn,
            at=at,
            level=level,
            kind=f"leadership_{event}",
            message=_leadership_message(epoch, holder, event, reason, took_over),
            detail=detail,
            dedupe=f"leadership:{epoch}:{'gained' if event == 'gained' else 'ended'}",
        )


def _leadership_message(epoch: int, holder: str, event: str, reason: str, took_over: Predecessor | None) -> str:
    if event == "gained":
        text = f"{holder} leads at epoch {epoch} ({reason})"
        if took_over is not None:
            text += f", taking over from {took_over.holder} (epoch {took_over.epoch}, {took_over.ended})"
        return text
    if event == "released":
        return f"{holder} stepped down from epoch {epoch} ({reason}): a standby takes over"
    if event == "lost":
        return f"{holder} lost the lead of epoch {epoch} and paused trading: {reason}"
    return f"{holder}'s epoch {epoch} ended without a word (crashed or cut off): {reason}"


@asynccontextmanager
async def fenced(conn: Connection, epoch: int) -> AsyncIterator[Connection]:
    """A transaction that commits only if `epoch` still holds the fence."""
    async with conn.transaction():
        stored: int = await conn.fetchval("SELECT epoch FROM leader_fence WHERE id = 1 FOR SHARE")
        if stored != epoch:
            raise FenceLost(epoch, stored)
        yield conn
