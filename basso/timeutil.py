"""Exchange time: IST, and the conversions every timestamp goes through.

Every datetime in Basso is timezone-aware. A wall-clock time without an offset is exchange time (IST), because
that is what TradingView alert templates send (`timenow + 5:30`, formatted without an offset); the earlier
system read those as UTC and rejected real exits as "in the future".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["IST", "IST_OFFSET", "as_exchange_time", "exchange_date", "require_aware", "utc_whole_seconds"]

IST = ZoneInfo("Asia/Kolkata")

# India has kept one offset, without daylight saving, since 1945: any date after that gives +05:30.
IST_OFFSET: timedelta = datetime(2000, 1, 1, tzinfo=IST).utcoffset() or timedelta(0)


def require_aware(moment: datetime, name: str) -> datetime:
    """`moment` itself; ValueError naming `name` if it carries no time zone (a programming error)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment.isoformat()} without an offset")
    return moment


def as_exchange_time(moment: datetime) -> datetime:
    """`moment` if it is aware; a naive wall-clock time is read as IST."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=IST)
    return moment


def exchange_date(moment: datetime) -> date:
    """The trading date of an aware `moment` on an Indian exchange: its date in India (19:00 UTC is tomorrow)."""
    return require_aware(moment, "moment").astimezone(IST).date()


def utc_whole_seconds(moment: datetime) -> datetime:
    """The same instant in UTC, truncated to the whole second (OverflowError near year 1 or 9999)."""
    return require_aware(moment, "moment").astimezone(UTC).replace(microsecond=0)
