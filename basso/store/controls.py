"""The operator's controls, audited in `control_audit`: the kill switch and flatten. Any instance may use
them: the kill switch is not a trade (the facts' version moves on with it, so a decision made before the
switch cannot commit after it), and flatten only stores signals, which the leader processes."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from basso.rules.signals import SignalType, TradingSignal
from basso.store.inbox import store_signal
from basso.store.types import Connection


async def set_kill_switch(conn: Connection, *, on: bool, actor: str, reason: str) -> bool:
    """Turn the kill switch on or off; True if that changed it. Every change is audited."""
    async with conn.transaction():
        # The kill switch is part of the book, so its version moves on with it.
        changed = await conn.fetchval(
            "UPDATE controls SET kill_switch = $1, changed_at = now(), book_version = book_version + 1"
            " WHERE id = 1 AND kill_switch <> $1 RETURNING true",
            on,
        )
        if not changed:
            return False
        await conn.execute(
            "INSERT INTO control_audit (action, actor, detail) VALUES ($1, $2, $3)",
            "kill switch on" if on else "kill switch off",
            actor,
            reason,
        )
        return True


async def store_flatten(conn: Connection, *, at: datetime, actor: str, reason: str) -> list[str]:
    """Flatten: one EXIT ALL per instrument holding open layers, at its latest mark, stored in the inbox in
    one transaction and audited. The signals are processed in order like any other, exactly once, by the
    leader; each closes whatever of its instrument is open when it is processed. Returns their keys."""
    batch = uuid4().hex[:12]
    keys: list[str] = []
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT p.instrument, coalesce(max(m.price), max(p.entry_price)) AS price FROM positions p"
            " LEFT JOIN instrument_marks m USING (instrument) WHERE p.status IN ('opening', 'partial', 'open')"
            " GROUP BY p.instrument ORDER BY p.instrument"
        )
        for row in rows:
            key = f"flatten-{batch}-{row['instrument']}"
            signal = TradingSignal(
                type=SignalType.EXIT,
                instrument=row["instrument"],
                layer=None,
                price=float(row["price"]),
                stop=None,
                lots=0,
                atr=None,
                er=None,
                supertrend=None,
                timestamp=at,
                reason=f"flatten: {reason or 'operator'}",
                signal_id=key,
            )
            await store_signal(conn, signal)
            keys.append(key)
        await conn.execute(
            "INSERT INTO control_audit (action, actor, detail) VALUES ('flatten', $1, $2)",
            actor,
            f"{reason or 'no reason given'}: {', '.join(r['instrument'] for r in rows) or 'nothing open'}",
        )
    return keys
