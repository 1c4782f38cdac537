"""Exchange trading calendars and market hours (docs/rules.md §1).

A calendar is the `holidays` package's list for a market (NSE: `XNSE`) corrected by the configuration's
`extra_holidays` and `extra_trading_days`; weekends are closed unless listed as extra trading days (special
Saturday sessions). No package covers MCX, so its calendar defaults to NSE's list (the configuration says so).

Nothing here reads a clock: every function takes the date or the aware datetime it reasons about. The closed
days of a year are worked out once and kept, because backtests ask about every bar of ten or more years.
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from basso.config import CalendarConfig, Config, ConfigError, Instrument
from basso.timeutil import IST, require_aware

__all__ = [
    "TradingCalendar",
    "calendar_for",
    "is_market_open",
    "market_close_on",
    "trading_calendar",
    "us_on_daylight_time",
]

_NEW_YORK = ZoneInfo("America/New_York")
_ONE_DAY = timedelta(days=1)
# A year has at most a few weeks of consecutive closures; a longer walk means a broken override file.
_MAX_CLOSED_RUN = 366


class TradingCalendar:
    """The days one exchange is open: weekdays that are not holidays, plus explicit extra trading days."""

    __slots__ = ("_closed_by_year", "_extra_holidays", "_extra_trading_days", "_market", "name")

    def __init__(self, config: CalendarConfig) -> None:
        self.name = config.name
        self._market = config.financial_calendar
        self._extra_holidays = frozenset(config.extra_holidays)
        self._extra_trading_days = frozenset(config.extra_trading_days)
        self._closed_by_year: dict[int, frozenset[date]] = {}
        try:
            holidays.financial_holidays(self._market)
        except NotImplementedError:
            raise ConfigError(
                f"calendars.{self.name}.financial_calendar: the holidays package has no market "
                f"{self._market!r} (NSE is 'XNSE')"
            ) from None

    def holidays_in(self, year: int) -> list[date]:
        """The weekdays of `year` the exchange is closed, in date order (weekends are not listed)."""
        return sorted(day for day in self._closed_in(year) if day.weekday() < 5)

    def is_trading_day(self, day: date) -> bool:
        """Whether the exchange trades on `day` (a date, not a datetime)."""
        # A datetime never equals a date, so it would silently read as "open"; say so instead.
        if type(day) is not date:
            raise TypeError(f"is_trading_day takes a date, got {type(day).__name__} {day!r}")
        closed = self._closed_by_year.get(day.year)
        if closed is None:
            closed = self._closed_in(day.year)
        return day not in closed

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before `day`."""
        return self.trading_day_on_or_before(day - _ONE_DAY)

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after `day`."""
        candidate = day + _ONE_DAY
        for _ in range(_MAX_CLOSED_RUN):
            if self.is_trading_day(candidate):
                return candidate
            candidate += _ONE_DAY
        raise ValueError(f"calendar {self.name}: no trading day within a year after {day.isoformat()}")

    def trading_day_on_or_before(self, day: date) -> date:
        """`day` itself if the exchange trades then, else the previous trading day (how expiries move)."""
        candidate = day
        for _ in range(_MAX_CLOSED_RUN):
            if self.is_trading_day(candidate):
                return candidate
            candidate -= _ONE_DAY
        raise ValueError(f"calendar {self.name}: no trading day within a year before {day.isoformat()}")

    def _closed_in(self, year: int) -> frozenset[date]:
        closed = self._closed_by_year.get(year)
        if closed is None:
            listed = set(holidays.financial_holidays(self._market, years=year)) | {
                day for day in self._extra_holidays if day.year == year
            }
            weekends = _weekends(year)
            closed = frozenset((listed | weekends) - self._extra_trading_days)
            self._closed_by_year[year] = closed
        return closed


def _weekends(year: int) -> set[date]:
    first = date(year, 1, 1)
    length = 366 if calendar.isleap(year) else 365
    return {first + timedelta(days=offset) for offset in range(length) if (first.weekday() + offset) % 7 >= 5}


@functools.cache
def trading_calendar(config: CalendarConfig) -> TradingCalendar:
    """The calendar for `config`, shared: one per distinct configuration, so its per-year cache is reused."""
    return TradingCalendar(config)


def calendar_for(config: Config, instrument: Instrument) -> TradingCalendar:
    """The trading calendar `instrument` follows under `config`."""
    return trading_calendar(config.calendars[instrument.calendar])


@functools.lru_cache(maxsize=8192)
def us_on_daylight_time(day: date) -> bool:
    """Whether New York keeps daylight saving time on `day` (noon there: the switch happens at 02:00 Sunday)."""
    return bool(datetime(day.year, day.month, day.day, 12, tzinfo=_NEW_YORK).dst())


def market_close_on(instrument: Instrument, day: date) -> time:
    """The instrument's closing time (IST) on `day`.

    MCX follows COMEX/NYMEX: it closes later while the US is on standard time, because the US session it
    mirrors then ends an hour later in IST. Instruments without that setting always close at `market_close`.
    """
    winter_close = instrument.market_close_us_standard_time
    if winter_close is None or us_on_daylight_time(day):
        return instrument.market_close
    return winter_close


def is_market_open(instrument: Instrument, calendar: TradingCalendar, moment: datetime) -> bool:
    """Whether `instrument` trades at the aware `moment`: a trading day, from market_open up to (not at) the close."""
    local = require_aware(moment, "moment").astimezone(IST)
    day = local.date()
    if not calendar.is_trading_day(day):
        return False
    clock = local.time()
    return instrument.market_open <= clock < market_close_on(instrument, day)
