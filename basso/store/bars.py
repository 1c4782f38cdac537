"""What the StopTrailer's bar-gap watch reads: when each instrument with open layers last had a bar close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from basso.store.types import Executor


@dataclass(frozen=True, slots=True, kw_only=True)
class LastBar:
    """An instrument with open layers, when its newest open layer was opened and its last bar close arrived."""

    instrument: str
    opened_at: datetime  # the newest open layer's: a gap is counted from it when no bar came since
    last_bar_at: datetime | None  # when the newest MARKET_DATA signal for it was stored (None: never)


async def last_bars(db: Executor) -> list[LastBar]:
    """Every instrument with open layers, with its last bar close (newest first by instrument name)."""
    rows = await db.fetch(
        "SELECT p.instrument, max(p.opened_at) AS opened_at,"
        " (SELECT max(s.received_at) FROM signals s WHERE s.instrument = p.instrument AND s.kind = 'MARKET_DATA')"
        " AS last_bar_at FROM positions p WHERE p.status <> 'closed' GROUP BY p.instrument ORDER BY p.instrument"
    )
    return [LastBar(instrument=r["instrument"], opened_at=r["opened_at"], last_bar_at=r["last_bar_at"]) for r in rows]
