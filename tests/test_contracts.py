"""Contracts: expiry dates, the entry/roll rule, broker symbols and the ATM strike (docs/rules.md §1, §7).

Every expected date is worked out by hand from a wall calendar and NSE's holiday list (MCX uses NSE's list by
default); the working is in the comment beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basso.config import Config, load_config
from basso.rules.calendars import calendar_for
from basso.rules.contracts import (
    Contract,
    ParsedSymbol,
    SymbolError,
    atm_strike,
    contract_for,
    contract_now,
    days_to_expiry,
    entry_contract,
    expiry_alert_due,
    expiry_schedule,
    future_symbol,
    in_roll_window,
    is_roll_candidate,
    option_symbol,
    parse_symbol,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "basso.toml"
    path.write_text(text, "utf-8")
    return path


def expiry_in(config: Config, name: str, year: int, month: int) -> date | None:
    instrument = config.instrument(name)
    return expiry_schedule(instrument, calendar_for(config, instrument)).expiry_in_month(year, month)


# --- expiry dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        # Thursday rule up to Aug 2025.
        (2025, 1, date(2025, 1, 30)),  # 31 Jan is a Friday → last Thursday 30 Jan
        (2025, 2, date(2025, 2, 27)),  # 28 Feb Fri → Thu 27 (the Wed 26 holiday does not matter)
        (2025, 3, date(2025, 3, 27)),  # 31 Mar Mon → Thu 27
        (2025, 4, date(2025, 4, 24)),  # 30 Apr Wed → Thu 24
        (2025, 8, date(2025, 8, 28)),  # 31 Aug Sun → Thu 28: still the Thursday rule
        # Tuesday rule from Sep 2025.
        (2025, 9, date(2025, 9, 30)),  # 30 Sep is itself a Tuesday
        (2025, 10, date(2025, 10, 28)),  # 31 Oct Fri → Tue 28
        (2025, 11, date(2025, 11, 25)),  # 30 Nov Sun → Tue 25
        (2025, 12, date(2025, 12, 30)),  # 31 Dec Wed → Tue 30
        (2026, 1, date(2026, 1, 27)),  # 31 Jan Sat → Tue 27 (the Mon 26 holiday does not matter)
        (2026, 2, date(2026, 2, 24)),  # 28 Feb Sat → Tue 24
        # Holiday-shifted: Tue 31 Mar 2026 is Mahavir Jayanti → previous trading day Mon 30 Mar.
        (2026, 3, date(2026, 3, 30)),
        # Tue 24 Nov 2026 is Guru Nanak Jayanti (30 Nov is a Monday, so 24th is the last Tuesday) → Mon 23 Nov.
        (2026, 11, date(2026, 11, 23)),
    ],
)
def test_bank_nifty_expires_on_the_last_tuesday_or_thursday_moved_back_over_holidays(
    config: Config, year: int, month: int, expiry: date
) -> None:
    assert expiry_in(config, "BANK_NIFTY", year, month) == expiry


def test_an_explicit_date_replaces_the_rule_in_its_month_only(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[instruments.BANK_NIFTY.expiry]\ndates = ["2025-12-29"]\n'))
    assert expiry_in(config, "BANK_NIFTY", 2025, 12) == date(2025, 12, 29)
    assert expiry_in(config, "BANK_NIFTY", 2025, 11) == date(2025, 11, 25)  # the rule, as before
    assert expiry_in(config, "BANK_NIFTY", 2026, 1) == date(2026, 1, 27)


def test_a_holiday_added_by_the_user_moves_the_expiry_back(tmp_path: Path) -> None:
    # Suppose NSE declared Tue 30 Dec 2025 a holiday: the expiry moves to Mon 29 Dec.
    config = load_config(write(tmp_path, '[calendars.NSE]\nextra_holidays = ["2025-12-30"]\n'))
    assert expiry_in(config, "BANK_NIFTY", 2025, 12) == date(2025, 12, 29)


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        (2026, 1, date(2026, 1, 5)),  # Mon 5 Jan: a trading day, unchanged
        (2025, 10, date(2025, 10, 3)),  # Sun 5 Oct → Sat 4 → Fri 3 (Thu 2 was the holiday, Fri is open)
        (2025, 11, date(2025, 11, 4)),  # Wed 5 Nov is Guru Nanak Jayanti → Tue 4 Nov
        (2026, 4, date(2026, 4, 2)),  # Sun 5 Apr → Sat 4 → Fri 3 is Good Friday → Thu 2 Apr
        (2026, 2, date(2026, 2, 5)),  # Thu 5 Feb: unchanged
    ],
)
def test_gold_mini_expires_on_the_fifth_moved_back_over_weekends_and_holidays(
    config: Config, year: int, month: int, expiry: date
) -> None:
    assert expiry_in(config, "GOLD_MINI", year, month) == expiry


@pytest.mark.parametrize(
    ("name", "year", "month", "expiry"),
    [
        ("COPPER", 2025, 12, date(2025, 12, 31)),  # Wed 31 Dec
        ("COPPER", 2025, 8, date(2025, 8, 29)),  # Sun 31 → Sat 30 → Fri 29 Aug
        ("SILVER_MINI", 2026, 2, date(2026, 2, 27)),  # Sat 28 Feb → Fri 27
        ("SILVER_MINI", 2025, 11, date(2025, 11, 28)),  # Sun 30 Nov → Sat 29 → Fri 28
        ("SILVER_MINI", 2026, 4, date(2026, 4, 30)),  # Thu 30 Apr
        ("SILVER_MINI", 2026, 3, None),  # no March contract: only Feb, Apr, Jun, Aug, Nov
        ("SILVER_MINI", 2026, 12, None),
    ],
)
def test_copper_and_silver_mini_expire_on_the_last_day_of_their_months(
    config: Config, name: str, year: int, month: int, expiry: date | None
) -> None:
    assert expiry_in(config, name, year, month) == expiry


def test_the_nearest_expiry_includes_the_expiry_day_itself(config: Config) -> None:
    bank_nifty = config.instrument("BANK_NIFTY")
    schedule = expiry_schedule(bank_nifty, calendar_for(config, bank_nifty))
    assert schedule.nearest_expiry(date(2025, 12, 30)) == date(2025, 12, 30)
    assert schedule.nearest_expiry(date(2025, 12, 31)) == date(2026, 1, 27)
    assert schedule.expiry_after(date(2025, 12, 30)) == date(2026, 1, 27)
    # Mon 30 Mar 2026 (moved from the 31st): on the 31st itself March is already gone → Apr: 30 Apr is a
    # Thursday → last Tuesday 28 Apr.
    assert schedule.nearest_expiry(date(2026, 3, 31)) == date(2026, 4, 28)


def test_silver_minis_nearest_expiry_skips_months_without_a_contract(config: Config) -> None:
    silver = config.instrument("SILVER_MINI")
    schedule = expiry_schedule(silver, calendar_for(config, silver))
    assert schedule.nearest_expiry(date(2026, 3, 1)) == date(2026, 4, 30)
    assert schedule.expiry_after(date(2025, 11, 28)) == date(2026, 2, 27)


# --- days to expiry, the roll window and the alert ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "day", "days"),
    [
        (date(2025, 12, 30), date(2025, 12, 24), 6),
        (date(2026, 1, 27), date(2025, 12, 24), 34),  # 7 days to 31 Dec + 27
        (date(2025, 12, 30), date(2025, 12, 30), 0),
        (date(2025, 12, 30), date(2026, 1, 2), 0),  # after expiry: never negative
    ],
)
def test_days_to_expiry_counts_calendar_days_and_never_goes_negative(expiry: date, day: date, days: int) -> None:
    assert days_to_expiry(expiry, day) == days


def test_bank_nifty_entry_seven_days_before_expiry_stays_in_the_near_contract(config: Config) -> None:
    bank_nifty = config.instrument("BANK_NIFTY")
    choice = entry_contract(bank_nifty, calendar_for(config, bank_nifty), date(2025, 12, 23))
    # 23 Dec → 30 Dec = 7 days: not fewer than 7, so the December contract.
    assert choice.contract.expiry == date(2025, 12, 30)
    assert (choice.days_to_expiry, choice.nearest_in_roll_window) == (7, False)


def test_bank_nifty_entry_six_days_before_expiry_goes_into_the_next_contract(config: Config) -> None:
    bank_nifty = config.instrument("BANK_NIFTY")
    choice = entry_contract(bank_nifty, calendar_for(config, bank_nifty), date(2025, 12, 24))
    # 24 Dec → 30 Dec = 6 days < 7: January, last Tuesday 27 Jan 2026, 34 days away.
    assert choice.contract == Contract(instrument="BANK_NIFTY", symbol_root="BANKNIFTY", expiry=date(2026, 1, 27))
    assert choice.nearest_expiry == date(2025, 12, 30)
    assert (choice.days_to_expiry, choice.nearest_in_roll_window) == (34, True)


@pytest.mark.parametrize(
    ("day", "expiry"),
    [
        (date(2025, 12, 28), date(2026, 1, 5)),  # 8 days to Mon 5 Jan: not fewer than 8
        (date(2025, 12, 29), date(2026, 2, 5)),  # 7 days: roll window → Thu 5 Feb 2026
    ],
)
def test_gold_mini_roll_window_is_fewer_than_eight_days(config: Config, day: date, expiry: date) -> None:
    gold = config.instrument("GOLD_MINI")
    assert entry_contract(gold, calendar_for(config, gold), day).contract.expiry == expiry


def test_a_held_contract_is_a_roll_candidate_exactly_when_fewer_than_roll_days_remain(config: Config) -> None:
    bank_nifty = config.instrument("BANK_NIFTY")
    december = date(2025, 12, 30)
    assert not is_roll_candidate(bank_nifty, december, date(2025, 12, 23))  # 7 days
    assert is_roll_candidate(bank_nifty, december, date(2025, 12, 24))  # 6 days
    assert is_roll_candidate(bank_nifty, december, date(2026, 1, 2))  # expired and still held


instrument_names = st.sampled_from(("BANK_NIFTY", "GOLD_MINI", "COPPER", "SILVER_MINI"))


@given(name=instrument_names, day=st.dates(min_value=date(2005, 1, 1), max_value=date(2035, 12, 31)))
def test_an_entry_never_goes_into_a_contract_the_roll_scan_would_roll(name: str, day: date) -> None:
    config = load_config()
    instrument = config.instrument(name)
    choice = entry_contract(instrument, calendar_for(config, instrument), day)
    expiry = choice.contract.expiry
    assert expiry >= day
    assert not is_roll_candidate(instrument, expiry, day)
    assert not in_roll_window(instrument, expiry, day)
    # The nearest contract is taken whenever it is outside the window.
    assert (expiry == choice.nearest_expiry) is (not choice.nearest_in_roll_window)


@pytest.mark.parametrize(
    ("day", "rolled", "alert"),
    [
        (date(2025, 12, 28), False, False),  # 2 days: not fewer than 2
        (date(2025, 12, 29), False, True),  # 1 day, not rolled
        (date(2025, 12, 30), False, True),  # expiry day
        (date(2025, 12, 29), True, False),  # rolled: nothing to say
    ],
)
def test_the_expiry_alert_fires_under_two_days_when_not_rolled(
    config: Config, day: date, rolled: bool, alert: bool
) -> None:
    assert config.portfolio.expiry_alert_days == 2
    assert (
        expiry_alert_due(date(2025, 12, 30), day, rolled=rolled, alert_days=config.portfolio.expiry_alert_days) is alert
    )


# --- symbols -----------------------------------------------------------------------------------------------


def test_broker_symbols_match_specs_examples(config: Config) -> None:
    december = contract_for(config.instrument("BANK_NIFTY"), date(2025, 12, 30))
    assert december.option_symbol(60000, "PE") == "BANKNIFTY30DEC2560000PE"
    assert december.option_symbol(60000, "CE") == "BANKNIFTY30DEC2560000CE"
    assert december.future_symbol == "BANKNIFTY30DEC25FUT"
    assert contract_for(config.instrument("GOLD_MINI"), date(2026, 1, 5)).future_symbol == "GOLDM05JAN26FUT"


@pytest.mark.parametrize(
    ("name", "day", "symbol"),
    [
        ("COPPER", date(2025, 12, 1), "COPPER31DEC25FUT"),
        ("SILVER_MINI", date(2026, 1, 15), "SILVERM27FEB26FUT"),  # Sat 28 Feb → Fri 27
        ("GOLD_MINI", date(2025, 12, 1), "GOLDM05JAN26FUT"),  # Fri 5 Dec is 4 days away → January
    ],
)
def test_entry_contracts_carry_the_brokers_future_symbol(config: Config, name: str, day: date, symbol: str) -> None:
    instrument = config.instrument(name)
    assert entry_contract(instrument, calendar_for(config, instrument), day).contract.future_symbol == symbol


def test_a_contract_is_an_immutable_value(config: Config) -> None:
    contract = contract_for(config.instrument("GOLD_MINI"), date(2026, 1, 5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        contract.expiry = date(2026, 2, 5)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("symbol", "parsed"),
    [
        ("BANKNIFTY30DEC2560000PE", ParsedSymbol(root="BANKNIFTY", expiry=date(2025, 12, 30), kind="PE", strike=60000)),
        ("BANKNIFTY30DEC2560000CE", ParsedSymbol(root="BANKNIFTY", expiry=date(2025, 12, 30), kind="CE", strike=60000)),
        ("BANKNIFTY30DEC25FUT", ParsedSymbol(root="BANKNIFTY", expiry=date(2025, 12, 30), kind="FUT")),
        ("GOLDM05JAN26FUT", ParsedSymbol(root="GOLDM", expiry=date(2026, 1, 5), kind="FUT")),
    ],
)
def test_a_symbol_parses_back_into_root_expiry_strike_and_kind(symbol: str, parsed: ParsedSymbol) -> None:
    assert parse_symbol(symbol) == parsed


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("", "must be a non-empty string"),
        ("BANKNIFTY", "expected ROOT \\+ DDMMMYY"),
        ("BANKNIFTY30DEC25", "expected ROOT \\+ DDMMMYY"),
        ("banknifty30dec25fut", "expected ROOT \\+ DDMMMYY"),
        ("BANKNIFTY3DEC25FUT", "expected ROOT \\+ DDMMMYY"),
        ("30DEC25FUT", "expected ROOT \\+ DDMMMYY"),
        ("BANKNIFTY30DEC2560000XE", "expected ROOT \\+ DDMMMYY"),
        ("BANKNIFTY30DCE25FUT", "'DCE' is not a month"),
        ("BANKNIFTY31FEB25FUT", "31FEB25 is not a date"),
        ("BANKNIFTY30DEC25060000PE", "strike '060000' must not start with 0"),
        (" BANKNIFTY30DEC25FUT", "expected ROOT \\+ DDMMMYY"),
    ],
)
def test_a_malformed_symbol_is_refused_naming_what_is_wrong(symbol: str, message: str) -> None:
    with pytest.raises(SymbolError, match=message):
        parse_symbol(symbol)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: future_symbol("BANK NIFTY", date(2025, 12, 30)), "symbol root 'BANK NIFTY'"),
        (lambda: future_symbol("GOLDM2", date(2025, 12, 30)), "symbol root 'GOLDM2'"),
        (lambda: future_symbol("GOLDM", date(2100, 1, 5)), "two-digit year only names 2000-2099"),
        (lambda: option_symbol("BANKNIFTY", date(2025, 12, 30), 0, "PE"), "strike 0: must be a whole number above 0"),
        (lambda: option_symbol("BANKNIFTY", date(2025, 12, 30), 60000, "XE"), "option kind 'XE'"),  # type: ignore[arg-type]
    ],
)
def test_symbol_parts_that_cannot_round_trip_are_refused(build: Callable[[], str], message: str) -> None:
    with pytest.raises(SymbolError, match=message):
        build()


roots = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
expiries = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(root=roots, expiry=expiries)
def test_future_symbols_round_trip(root: str, expiry: date) -> None:
    assert parse_symbol(future_symbol(root, expiry)) == ParsedSymbol(root=root, expiry=expiry, kind="FUT")


@given(
    root=roots, expiry=expiries, strike=st.integers(min_value=1, max_value=10**7), kind=st.sampled_from(("CE", "PE"))
)
def test_option_symbols_round_trip(root: str, expiry: date, strike: int, kind: str) -> None:
    symbol = option_symbol(root, expiry, strike, kind)  # type: ignore[arg-type]
    assert parse_symbol(symbol) == ParsedSymbol(root=root, expiry=expiry, kind=kind, strike=strike)  # type: ignore[arg-type]


# --- ATM strike --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "strike"),
    [
        (50347.0, 50500),  # 153 below 50,500, 347 above 50,000
        (50250.0, 50000),  # exact tie: 50,000 is the multiple of 1,000
        (50750.0, 51000),  # exact tie: 51,000 is the multiple of 1,000
        (50000.0, 50000),
        (50249.95, 50000),  # one tick under the tie
        (50250.05, 50500),  # one tick over the tie
        (59999.0, 60000),
    ],
)
def test_bank_nifty_atm_strike_is_the_nearest_500_with_ties_to_the_1000(
    config: Config, price: float, strike: int
) -> None:
    step = config.instrument("BANK_NIFTY").strike_step
    assert step == 500
    assert atm_strike(price, step) == strike


@pytest.mark.parametrize("price", [0.0, -100.0, float("nan"), float("inf")])
def test_atm_strike_refuses_a_price_that_is_not_a_positive_number(price: float) -> None:
    with pytest.raises(ValueError, match="price must be a finite number above 0"):
        atm_strike(price, 500)


@given(st.floats(min_value=1.0, max_value=1e6, allow_nan=False))
def test_atm_strike_is_a_multiple_of_the_step_within_half_a_step(price: float) -> None:
    strike = atm_strike(price, 500)
    assert strike % 500 == 0
    assert abs(strike - price) <= 250


def test_schedule_answers_a_decade_of_days_consistently(config: Config) -> None:
    # Every day of 2016-2025 goes into a contract 7 or more days out (the roll window) and at most 6 + 38 days:
    # a skipped nearest expiry is under 7 days away and consecutive monthly expiries are 28 or 35 days apart,
    # plus up to 3 days when a holiday moved the earlier one back (33 across the Thursday → Tuesday switch).
    bank_nifty = config.instrument("BANK_NIFTY")
    calendar = calendar_for(config, bank_nifty)
    day = date(2016, 1, 1)
    while day < date(2026, 1, 1):
        assert 7 <= entry_contract(bank_nifty, calendar, day).days_to_expiry <= 44
        day += timedelta(days=1)


def test_an_order_goes_into_the_contract_that_trades_on_the_exchanges_date(config: Config) -> None:
    # Bank Nifty's December 2026 contract expires Tue 29 Dec; the roll window is 7 days. On 23 Dec (IST) it is
    # 6 days away, so an order goes into January's: last Tuesday 26 Jan 2027 is Republic Day, a holiday, so Mon
    # 25 Jan. 19:00 UTC on 22 Dec is already 00:30 on the 23rd in India: the exchange's date decides.
    assert (
        contract_now(config, "BANK_NIFTY", datetime(2026, 11, 25, 5, 0, tzinfo=UTC)).future_symbol
        == "BANKNIFTY29DEC26FUT"
    )
    assert (
        contract_now(config, "BANK_NIFTY", datetime(2026, 12, 22, 18, 29, tzinfo=UTC)).future_symbol
        == "BANKNIFTY29DEC26FUT"
    )  # 23:59 IST on the 22nd: 7 days, not inside the window
    assert (
        contract_now(config, "BANK_NIFTY", datetime(2026, 12, 22, 19, 0, tzinfo=UTC)).future_symbol
        == "BANKNIFTY25JAN27FUT"
    )
