"""The bar-gap alert (docs/rules.md §10): an instrument with open layers whose bar closes stopped arriving during
market hours (a TradingView alert may have silently stopped), so its stops are no longer trailed.

Pure: the StopTrailer reads when each instrument last had a bar and asks this.
"""

from __future__ import annotations

from datetime import datetime

from basso.config import Instrument
from basso.rules.calendars import TradingCalendar, is_market_open
from basso.timeutil import IST

__all__ = ["bar_gap_s"]


def bar_gap_s(
    instrument: Instrument,
    calendar: TradingCalendar,
    *,
    now: datetime,
    last_bar_at: datetime | None,
    opened_at: datetime,
    limit_s: float,
) -> float | None:
    """The seconds of today's session without a bar close for `instrument` (counted from its last bar, its newest
    open layer or the session's open, whichever is latest) if longer than `limit_s` while its market is open at
    `now`; None when there is nothing to alert. The night between two sessions is not a gap."""
    if not is_market_open(instrument, calendar, now):
        return None
    session_open = datetime.combine(now.astimezone(IST).date(), instrument.market_open, IST)
    since = max(t for t in (last_bar_at, opened_at, session_open) if t is not None)
    gap = (now - since).total_seconds()
    return gap if gap > limit_s else None
