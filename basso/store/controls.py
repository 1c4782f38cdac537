"""The operator's controls: the kill switch, audited. Any instance may set it (it is not a trade); the
facts' version moves on with it, so a decision made before the switch cannot commit after it."""

from __future__ import annotations

from basso.store.capital import BOOK_CHANGED
from basso.store.types import Connection


async def set_kill_switch(conn: Connection, *, on: bool, actor: str, reason: str) -> bool:
    """Turn the kill switch on or off; True if that changed it. Every change is audited."""
    async with conn.transaction():
        changed = await conn.fetchval(
            "UPDATE controls SET kill_switch = $1, changed_at = now() WHERE id = 1 AND kill_switch <> $1"
            " RETURNING true", on)
        if not changed:
            return False
        await conn.execute(BOOK_CHANGED)
        await conn.execute("INSERT INTO control_audit (action, actor, detail) VALUES ($1, $2, $3)",
                           "kill switch on" if on else "kill switch off", actor, reason)
        return True
