"""Dead letters in PostgreSQL: a signal that crashed its processor three times is set aside, with the error,
and marked `dead` so the next signal can proceed. Nothing is deleted; the API shows them."""

from __future__ import annotations

from basso.enums import SignalOutcome
from basso.store.fence import fenced
from basso.store.types import Connection


async def bury_signal(conn: Connection, *, epoch: int, signal_row: int, actor: str, error: str, attempts: int) -> None:
    """Mark the signal in row `signal_row` dead and record why, in one fenced transaction (no-op if it already
    has an outcome)."""
    async with fenced(conn, epoch):
        updated = await conn.execute(
            "UPDATE signals SET outcome = $2, reason = $3, processed_at = now(), epoch = $4"
            " WHERE id = $1 AND outcome = 'pending'",
            signal_row,
            SignalOutcome.DEAD.value,
            f"dead letter after {attempts} crashes: {error}"[:500],
            epoch,
        )
        if updated == "UPDATE 1":
            await conn.execute(
                "INSERT INTO dead_letters (actor, signal, message, error, attempts) VALUES ($1, $2, $3, $4, $5)",
                actor,
                signal_row,
                f"signal {signal_row}",
                error[:2000],
                attempts,
            )
