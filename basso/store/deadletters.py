"""Dead letters in PostgreSQL: a signal that crashed its processor three times is set aside, with the error,
and marked `dead` so the next signal can proceed. Nothing is deleted; the API shows them."""

from __future__ import annotations

from basso.enums import AlertLevel, SignalOutcome
from basso.store.alerts import raise_alert
from basso.store.fence import fenced
from basso.store.types import Connection


async def bury_signal(conn: Connection, *, epoch: int, signal_row: int, actor: str, error: str, attempts: int) -> None:
    """Mark the signal in row `signal_row` dead, record why and raise its alert, in one fenced transaction (no-op
    if it already has an outcome). The alert is one per signal: its dedupe key names the signal's row."""
    async with fenced(conn, epoch):
        buried = await conn.fetchrow(
            "UPDATE signals SET outcome = $2, reason = $3, processed_at = now(), epoch = $4"
            " WHERE id = $1 AND outcome = 'pending' RETURNING key, kind, instrument, layer, processed_at",
            signal_row,
            SignalOutcome.DEAD.value,
            f"dead letter after {attempts} crashes: {error}"[:500],
            epoch,
        )
        if buried is None:
            return
        await conn.execute(
            "INSERT INTO dead_letters (actor, signal, message, error, attempts) VALUES ($1, $2, $3, $4, $5)",
            actor,
            signal_row,
            f"signal {signal_row}",
            error[:2000],
            attempts,
        )
        layer = f" Long_{buried['layer']}" if buried["layer"] is not None else ""
        await raise_alert(
            conn,
            at=buried["processed_at"],
            level=AlertLevel.CRITICAL,
            kind="dead_letter",
            message=f"{buried['kind']} {buried['instrument']}{layer} (signal {buried['key']}) was set aside after"
            f" {attempts} crashes of {actor}: {error[:300]}. It was not traded: act on it by hand if it mattered",
            instrument=buried["instrument"],
            detail={
                "signal": signal_row,
                "signal_id": buried["key"],
                "type": buried["kind"],
                "actor": actor,
                "attempts": attempts,
                "error": error[:2000],
            },
            dedupe=f"dead_letter:{signal_row}",
        )
