"""Exchange calendars: NSE's holidays from the package, the user's corrections, and market hours (docs/rules.md §1).

Dates checked by hand against a 2025/2026 calendar and NSE's published holiday list.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basso.config import CalendarConfig, Config, ConfigError, load_config
from basso.rules.calendars import (
    TradingCalendar,
    calendar_for,
    is_market_open,
    market_close_on,
    trading_calendar,
    us_on_daylight_time,
)
from basso.timeutil import IST


def nse(config: Config) -> TradingCalendar:
    return trading_calendar(config.calendars["NSE"])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "basso.toml"
    path.write_text(text, "utf-8")
    return path


def ist(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=IST)


def test_nse_has_fourteen_trading_holidays_in_2025(config: Config) -> None:
    holidays_2025 = nse(config).holidays_in(2025)
    assert len(holidays_2025) == 14
    # Spot checks from NSE's circular: Holi (Fri 14 Mar), Diwali (Tue 21 and Wed 22 Oct), Christmas (Thu 25 Dec).
    assert {date(2025, 3, 14), date(2025, 10, 21), date(2025, 10, 22), date(2025, 12, 25)} <= set(holidays_2025)


@pytest.mark.parametrize(
    ("day", "trading"),
    [
        (date(2025, 12, 24), True),  # Wednesday
        (date(2025, 12, 25), False),  # Thursday, Christmas
        (date(2025, 12, 27), False),  # Saturday
        (date(2025, 12, 28), False),  # Sunday
        (date(2025, 12, 29), True),  # Monday
        (date(2026, 1, 26), False),  # Monday, Republic Day
        (date(2026, 3, 31), False),  # Tuesday, Mahavir Jayanti
    ],
)
def test_weekends_and_exchange_holidays_are_closed(config: Config, day: date, trading: bool) -> None:
    assert nse(config).is_trading_day(day) is trading


@pytest.mark.parametrize(
    ("day", "previous"),
    [
        (date(2025, 12, 29), date(2025, 12, 26)),  # Mon → Fri over the weekend
        (date(2025, 12, 26), date(2025, 12, 24)),  # Fri → Wed over Christmas (Thu)
        (date(2025, 10, 23), date(2025, 10, 20)),  # Thu → Mon over Diwali (Tue 21, Wed 22)
        (date(2025, 12, 28), date(2025, 12, 26)),  # from a Sunday: the Friday before
        (date(2026, 1, 1), date(2025, 12, 31)),  # across the year boundary
    ],
)
def test_previous_trading_day_skips_weekends_and_holidays(config: Config, day: date, previous: date) -> None:
    assert nse(config).previous_trading_day(day) == previous


def test_next_trading_day_skips_a_two_day_holiday(config: Config) -> None:
    # Mon 20 Oct 2025 → Tue 21 and Wed 22 are Diwali → Thu 23 Oct.
    assert nse(config).next_trading_day(date(2025, 10, 20)) == date(2025, 10, 23)


@given(st.dates(min_value=date(2005, 1, 1), max_value=date(2035, 12, 31)))
def test_previous_trading_day_is_the_nearest_open_day_before(day: date) -> None:
    calendar = nse(load_config())
    previous = calendar.previous_trading_day(day)
    assert previous < day
    assert calendar.is_trading_day(previous)
    gap = (day - previous).days
    assert all(not calendar.is_trading_day(previous + timedelta(days=k)) for k in range(1, gap))


def test_mcx_defaults_to_nses_holiday_list(config: Config) -> None:
    mcx = trading_calendar(config.calendars["MCX"])
    assert mcx.holidays_in(2025) == nse(config).holidays_in(2025)
    assert calendar_for(config, config.instrument("GOLD_MINI")) is mcx
    assert calendar_for(config, config.instrument("BANK_NIFTY")) is nse(config)


def test_the_user_file_adds_holidays_and_trading_days_to_one_exchange(tmp_path: Path) -> None:
    # MCX trades its evening session on Christmas; suppose the user also marks Wed 24 Dec 2025 closed, and
    # NSE's special live session on Saturday 18 May 2024 as a trading day.
    config = load_config(
        write(
            tmp_path,
            '[calendars.MCX]\nextra_holidays = ["2025-12-24"]\nextra_trading_days = ["2025-12-25", "2024-05-18"]\n',
        )
    )
    mcx = trading_calendar(config.calendars["MCX"])
    assert not mcx.is_trading_day(date(2025, 12, 24))
    assert mcx.is_trading_day(date(2025, 12, 25))
    assert mcx.is_trading_day(date(2024, 5, 18))
    assert mcx.previous_trading_day(date(2025, 12, 26)) == date(2025, 12, 25)
    # 14 NSE holidays − Christmas + 24 Dec = 14 weekday closures, and NSE itself is untouched.
    assert len(mcx.holidays_in(2025)) == 14
    assert nse(config).is_trading_day(date(2025, 12, 24))
    assert not nse(config).is_trading_day(date(2025, 12, 25))


def test_an_unknown_market_in_the_config_is_refused_naming_the_key() -> None:
    bad = CalendarConfig(name="LME", financial_calendar="XLME", extra_holidays=(), extra_trading_days=())
    with pytest.raises(ConfigError, match=r"calendars\.LME\.financial_calendar: the holidays package has no market"):
        TradingCalendar(bad)


def test_one_calendar_object_is_shared_per_configuration(config: Config) -> None:
    assert trading_calendar(config.calendars["NSE"]) is trading_calendar(load_config().calendars["NSE"])


def test_years_before_the_packages_list_still_close_weekends(config: Config) -> None:
    calendar = nse(config)
    assert not calendar.is_trading_day(date(1999, 1, 2))  # a Saturday
    assert calendar.is_trading_day(date(1999, 1, 4))  # a Monday


# --- market hours ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (ist(2025, 12, 24, 9, 14, 59), False),
        (ist(2025, 12, 24, 9, 15), True),
        (ist(2025, 12, 24, 15, 29, 59), True),
        (ist(2025, 12, 24, 15, 30), False),  # the close itself is closed: nothing trades at or after it
        (ist(2025, 12, 25, 11, 0), False),  # Christmas
        (ist(2025, 12, 27, 11, 0), False),  # Saturday
        # 03:45 UTC = 09:15 IST: an aware time in another zone is judged in IST.
        (datetime(2025, 12, 24, 3, 45, tzinfo=UTC), True),
        (datetime(2025, 12, 24, 3, 44, tzinfo=UTC), False),
    ],
)
def test_bank_nifty_trades_from_0915_to_1530_ist_on_trading_days(config: Config, moment: datetime, open_: bool) -> None:
    bank_nifty = config.instrument("BANK_NIFTY")
    assert is_market_open(bank_nifty, nse(config), moment) is open_


@pytest.mark.parametrize(
    ("day", "daylight"),
    [
        (date(2025, 3, 7), False),  # US DST 2025 starts Sun 9 Mar
        (date(2025, 3, 10), True),
        (date(2025, 10, 31), True),  # and ends Sun 2 Nov
        (date(2025, 11, 3), False),
        (date(2026, 3, 6), False),  # 2026 starts Sun 8 Mar
        (date(2026, 3, 9), True),
    ],
)
def test_us_daylight_time_follows_new_york(day: date, daylight: bool) -> None:
    assert us_on_daylight_time(day) is daylight


@pytest.mark.parametrize(
    ("day", "close"),
    [
        (date(2025, 10, 31), time(23, 30)),  # US on summer time
        (date(2025, 11, 3), time(23, 55)),  # US on standard time
        (date(2026, 3, 6), time(23, 55)),
        (date(2026, 3, 9), time(23, 30)),
    ],
)
def test_mcx_closes_later_while_the_us_is_on_standard_time(config: Config, day: date, close: time) -> None:
    assert market_close_on(config.instrument("GOLD_MINI"), day) == close


def test_mcx_open_check_uses_the_days_closing_time(config: Config) -> None:
    gold = config.instrument("GOLD_MINI")
    mcx = trading_calendar(config.calendars["MCX"])
    assert not is_market_open(gold, mcx, ist(2025, 10, 31, 23, 45))  # summer: closed at 23:30
    assert is_market_open(gold, mcx, ist(2025, 10, 31, 23, 29))
    assert is_market_open(gold, mcx, ist(2025, 11, 3, 23, 45))  # winter: open until 23:55
    assert not is_market_open(gold, mcx, ist(2025, 11, 3, 23, 55))
    assert is_market_open(gold, mcx, ist(2025, 11, 3, 9, 0))
    assert not is_market_open(gold, mcx, ist(2025, 11, 3, 8, 59))


def test_an_instrument_without_a_winter_close_keeps_its_close(config: Config) -> None:
    assert market_close_on(config.instrument("BANK_NIFTY"), date(2025, 12, 1)) == time(15, 30)


def test_a_naive_datetime_is_refused(config: Config) -> None:
    with pytest.raises(ValueError, match="moment must be a timezone-aware datetime"):
        is_market_open(config.instrument("BANK_NIFTY"), nse(config), datetime(2025, 12, 24, 10, 0))


def test_a_datetime_where_a_date_belongs_is_refused_not_read_as_open(config: Config) -> None:
    with pytest.raises(TypeError, match="is_trading_day takes a date, got datetime"):
        nse(config).is_trading_day(ist(2025, 12, 25, 10, 0))
