"""The notifications outbox (sql/009): rows made by triggers in the transaction that commits a fill or an alert,
claimed and sent by the leader's notifier. Every state change the notifier makes is fenced by its epoch, so an
instance that lost the lead sends nothing more."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from basso.enums import NotificationState
from basso.store.types import Executor

_FENCED = "(SELECT epoch FROM leader_fence WHERE id = 1) = $2"


async def abandon_interrupted(db: Executor, epoch: int) -> int:
    """Rows a previous notifier claimed and never finished (cut off mid-send) become 'unknown': they may have
    gone out, so they are never sent again. How many."""
    result: str = await db.execute(
        f"UPDATE notifications SET state = $1 WHERE state = 'sending' AND {_FENCED}",
        NotificationState.UNKNOWN.value,
        epoch,
    )
    return int(result.split()[-1])


async def skip_pending(db: Executor, epoch: int, reason: str) -> int:
    """Every pending row becomes 'skipped' with `reason` (nowhere to send them); how many."""
    result: str = await db.execute(
        f"UPDATE notifications SET state = 'skipped', last_error = $1 WHERE state = 'pending' AND {_FENCED}",
        reason,
        epoch,
    )
    return int(result.split()[-1])


async def due(db: Executor, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Pending rows whose time has come, oldest first."""
    return await db.fetch(
        "SELECT id, source, source_id, attempts FROM notifications WHERE state = 'pending'"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= $1)"
        " ORDER BY id LIMIT $2",
        now,
        limit,
    )


async def claim(db: Executor, notification: int, epoch: int) -> bool:
    """Mark one row 'sending' (one more attempt) while `epoch` holds the fence; False if someone else has it."""
    claimed = await db.fetchval(
        f"UPDATE notifications SET state = 'sending', attempts = attempts + 1 WHERE id = $1 AND state = 'pending'"
        f" AND {_FENCED} RETURNING id",
        notification,
        epoch,
    )
    return claimed is not None


async def finish(
    db: Executor,
    notification: int,
    *,
    state: NotificationState,
    at: datetime,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Record how a claimed (or skipped) row ended: sent, skipped, failed, or back to pending until `retry_at`."""
    await db.execute(
        "UPDATE notifications SET state = $2, sent_at = CASE WHEN $2 = 'sent' THEN $3 ELSE sent_at END,"
        " last_error = coalesce($4, last_error), next_attempt_at = coalesce($5, next_attempt_at) WHERE id = $1",
        notification,
        state.value,
        at,
        error,
        retry_at,
    )


async def order_fact(db: Executor, order: int) -> asyncpg.Record | None:
    """A filled order with the layer it filled and the closed equity just after it: what its message says."""
    return await db.fetchrow(
        "SELECT o.instrument, o.side, o.lots, coalesce(o.fill_price, o.price) AS price, o.signal,"
        " p.layer, p.contract, p.entry_price, p.current_stop, p.exit_reason, p.realised_pnl,"
        " (o.signal IS NOT DISTINCT FROM p.entry_signal) AS opening,"
        " (SELECT coalesce(sum(l.amount), 0) FROM ledger l WHERE l.id <= coalesce("
        "   (SELECT max(id) FROM ledger WHERE signal = o.signal), (SELECT max(id) FROM ledger))) AS equity"
        " FROM orders o JOIN positions p ON p.id = o.position WHERE o.id = $1",
        order,
    )


async def alert_fact(db: Executor, alert: int) -> asyncpg.Record | None:
    """An alert as its message shows it."""
    return await db.fetchrow("SELECT level, kind, instrument, message FROM alerts WHERE id = $1", alert)


async def states(db: Executor) -> list[asyncpg.Record]:
    """Every row's source, state and attempts, oldest first (for tests and the operator)."""
    return await db.fetch(
        "SELECT id, source, source_id, state, attempts, next_attempt_at, sent_at, last_error"
        " FROM notifications ORDER BY id"
    )
