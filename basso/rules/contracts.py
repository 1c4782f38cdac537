"""Monthly contracts: expiry dates, which contract an entry goes into, rolls, broker symbols, ATM strikes
(docs/rules.md §1, §7).

Pure rules: every function takes the date it reasons about and the instrument's configuration; the only state is
a per-instrument cache of month → expiry, because backtests ask for the same months again and again.

One rule decides both entries and rolls: a held contract is a roll candidate exactly when an entry on the same day
would not go into it (calendar days to expiry fewer than the instrument's `roll_days`). So no position is entered
into a contract and then rolled out of it by the next hourly scan.
"""

from __future__ import annotations

import calendar as _gregorian
import functools
import math
import re
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, timedelta
from typing import Literal

from basso.config import Config, ExpiryRule, Instrument
from basso.rules.calendars import TradingCalendar, calendar_for
from basso.timeutil import exchange_date

__all__ = [
    "Contract",
    "ContractChoice",
    "ExpirySchedule",
    "OptionKind",
    "ParsedSymbol",
    "SymbolError",
    "atm_strike",
    "contract_for",
    "contract_now",
    "days_to_expiry",
    "entry_contract",
    "expiry_alert_due",
    "expiry_code",
    "expiry_schedule",
    "future_symbol",
    "in_roll_window",
    "is_roll_candidate",
    "option_symbol",
    "parse_symbol",
]

OptionKind = Literal["CE", "PE"]
SymbolKind = Literal["FUT", "CE", "PE"]

# Fixed English abbreviations: strftime("%b") follows the process locale, broker symbols do not.
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}
_ROOT = re.compile(r"[A-Z]+")
_SYMBOL = re.compile(
    r"(?P<root>[A-Z]+?)(?P<day>\d{2})(?P<month>[A-Z]{3})(?P<year>\d{2})"
    r"(?:(?P<strike>\d+)(?P<option>CE|PE)|FUT)"
)
# Monthly expiries are at most a few months apart (Silver Mini: Aug → Nov); three years without one means the
# rule can never produce one, not that it is far away.
_SEARCH_MONTHS = 36


class SymbolError(ValueError):
    """A broker symbol (or the parts to build one) is malformed; the message says which part and why."""


# --- expiry dates ------------------------------------------------------------------------------------------


class ExpirySchedule:
    """The monthly expiry dates of one instrument on one exchange calendar, worked out once per month."""

    __slots__ = ("_by_month", "_calendar", "_explicit", "_rule", "instrument")

    def __init__(self, instrument: Instrument, calendar: TradingCalendar) -> None:
        self.instrument = instrument
        self._rule = instrument.expiry
        self._calendar = calendar
        # An explicit date is the exchange's own announcement: it replaces the rule in its month, as listed. If a
        # month lists several, the last is the monthly expiry (the others are weeklies someone pasted in).
        self._explicit = {(day.year, day.month): day for day in sorted(self._rule.dates)}
        self._by_month: dict[tuple[int, int], date | None] = {}

    def expiry_in_month(self, year: int, month: int) -> date | None:
        """The contract expiring in `year`-`month`, or None if the instrument has no contract that month."""
        key = (year, month)
        if key in self._by_month:
            return self._by_month[key]
        expiry = self._explicit.get(key)
        if expiry is None and month in self._rule.months:
            expiry = self._calendar.trading_day_on_or_before(_nominal_expiry(self._rule, year, month))
        self._by_month[key] = expiry
        return expiry

    def nearest_expiry(self, day: date) -> date:
        """The first expiry on or after `day` (an expiry day itself still counts: the contract trades that day)."""
        year, month = day.year, day.month
        for _ in range(_SEARCH_MONTHS):
            if year > MAXYEAR:
                break
            expiry = self.expiry_in_month(year, month)
            if expiry is not None and expiry >= day:
                return expiry
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise ValueError(f"{self.instrument.name}: no expiry within {_SEARCH_MONTHS} months of {day.isoformat()}")

    def expiry_after(self, expiry: date) -> date:
        """The next expiry strictly after `expiry` (the contract a roll moves into)."""
        return self.nearest_expiry(expiry + timedelta(days=1))


def _nominal_expiry(rule: ExpiryRule, year: int, month: int) -> date:
    """The rule's date in a month before any holiday adjustment."""
    last_day = date(year, month, _gregorian.monthrange(year, month)[1])
    if rule.rule == "last_day":
        return last_day
    if rule.rule == "day_of_month":
        assert rule.day is not None  # the config loader requires `day` for this rule
        return date(year, month, rule.day)
    weekday = rule.weekday_on(date(year, month, 1))
    return last_day - timedelta(days=(last_day.weekday() - weekday) % 7)


@functools.cache
def expiry_schedule(instrument: Instrument, calendar: TradingCalendar) -> ExpirySchedule:
    """The shared schedule of `instrument` on `calendar`, so its month cache survives between calls."""
    return ExpirySchedule(instrument, calendar)


def days_to_expiry(expiry: date, day: date) -> int:
    """Calendar days from `day` to `expiry`, date-only; 0 on and after the expiry day, never negative."""
    return max(0, (expiry - day).days)


def in_roll_window(instrument: Instrument, expiry: date, day: date) -> bool:
    """Whether a contract expiring on `expiry` is inside the instrument's roll window on `day`."""
    return days_to_expiry(expiry, day) < instrument.roll_days


# --- symbols -----------------------------------------------------------------------------------------------


def expiry_code(expiry: date) -> str:
    """The broker's DDMMMYY form of an expiry date, upper case: 30 Dec 2025 → 30DEC25."""
    if not 2000 <= expiry.year <= 2099:
        raise SymbolError(f"expiry {expiry.isoformat()}: a two-digit year only names 2000-2099")
    return f"{expiry.day:02d}{_MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def _checked_root(root: str) -> str:
    if not _ROOT.fullmatch(root):
        raise SymbolError(f"symbol root {root!r}: must be upper-case letters A-Z only")
    return root


def future_symbol(root: str, expiry: date) -> str:
    """A monthly future's broker symbol: GOLDM + 5 Jan 2026 → GOLDM05JAN26FUT."""
    return f"{_checked_root(root)}{expiry_code(expiry)}FUT"


def option_symbol(root: str, expiry: date, strike: int, kind: OptionKind) -> str:
    """An option's broker symbol: BANKNIFTY + 30 Dec 2025 + 60000 + PE → BANKNIFTY30DEC2560000PE."""
    if isinstance(strike, bool) or not isinstance(strike, int) or strike <= 0:
        raise SymbolError(f"strike {strike!r}: must be a whole number above 0")
    if kind not in ("CE", "PE"):
        raise SymbolError(f"option kind {kind!r}: must be CE or PE")
    return f"{_checked_root(root)}{expiry_code(expiry)}{strike}{kind}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedSymbol:
    """A broker symbol taken apart: root, expiry, and for options the strike and CE/PE."""

    root: str
    expiry: date
    kind: SymbolKind
    strike: int | None = None


def parse_symbol(symbol: str) -> ParsedSymbol:
    """The parts of a DDMMMYY broker symbol; SymbolError naming the bad part for anything else."""
    if not isinstance(symbol, str) or not symbol:
        raise SymbolError(f"symbol {symbol!r}: must be a non-empty string")
    match = _SYMBOL.fullmatch(symbol)
    if match is None:
        raise SymbolError(
            f"symbol {symbol!r}: expected ROOT + DDMMMYY + FUT or strike + CE/PE "
            "(e.g. BANKNIFTY30DEC25FUT, BANKNIFTY30DEC2560000PE)"
        )
    month = _MONTH_NUMBER.get(match["month"])
    if month is None:
        raise SymbolError(f"symbol {symbol!r}: {match['month']!r} is not a month (JAN ... DEC)")
    try:
        expiry = date(2000 + int(match["year"]), month, int(match["day"]))
    except ValueError:
        raise SymbolError(f"symbol {symbol!r}: {match['day']}{match['month']}{match['year']} is not a date") from None
    if match["option"] is None:
        return ParsedSymbol(root=match["root"], expiry=expiry, kind="FUT")
    strike_text = match["strike"]
    # A leading zero would give two spellings of one contract; brokers never write one.
    if strike_text.startswith("0"):
        raise SymbolError(f"symbol {symbol!r}: strike {strike_text!r} must not start with 0")
    kind: OptionKind = "CE" if match["option"] == "CE" else "PE"
    return ParsedSymbol(root=match["root"], expiry=expiry, kind=kind, strike=int(strike_text))


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """One monthly contract of an instrument: its expiry and the broker symbols that name it."""

    instrument: str
    symbol_root: str
    expiry: date

    @property
    def future_symbol(self) -> str:
        """The future's symbol, e.g. BANKNIFTY30DEC25FUT (a synthetic's reference price comes from it)."""
        return future_symbol(self.symbol_root, self.expiry)

    def option_symbol(self, strike: int, kind: OptionKind) -> str:
        """The symbol of this expiry's `kind` option at `strike`, e.g. BANKNIFTY30DEC2560000CE."""
        return option_symbol(self.symbol_root, self.expiry, strike, kind)


def contract_for(instrument: Instrument, expiry: date) -> Contract:
    """The `instrument` contract expiring on `expiry`."""
    return Contract(instrument=instrument.name, symbol_root=instrument.symbol_root, expiry=expiry)


# --- entries, rolls, alerts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractChoice:
    """The contract an entry on a day goes into, and whether the nearest one was skipped for the roll window."""

    contract: Contract
    nearest_expiry: date
    nearest_in_roll_window: bool
    days_to_expiry: int


def entry_contract(instrument: Instrument, calendar: TradingCalendar, day: date) -> ContractChoice:
    """The contract an entry on `day` goes into: the nearest expiry unless inside the roll window, then the next.

    The same rule picks a roll's target, so the result is never itself a roll candidate on `day`.
    """
    schedule = expiry_schedule(instrument, calendar)
    nearest = schedule.nearest_expiry(day)
    expiry = nearest
    # A loop rather than one step: explicit dates in the config could put two expiries within one window.
    while in_roll_window(instrument, expiry, day):
        expiry = schedule.expiry_after(expiry)
    return ContractChoice(
        contract=contract_for(instrument, expiry),
        nearest_expiry=nearest,
        nearest_in_roll_window=in_roll_window(instrument, nearest, day),
        days_to_expiry=days_to_expiry(expiry, day),
    )


def contract_now(config: Config, instrument: str, moment: datetime) -> Contract:
    """The contract an order for `instrument` executed at `moment` goes into (`entry_contract` on the exchange's
    date). Chosen when the order is executed, not when the signal was decided: an order is always for a contract
    that trades then."""
    traded = config.instruments[instrument]
    return entry_contract(traded, calendar_for(config, traded), exchange_date(moment)).contract


def is_roll_candidate(instrument: Instrument, held_expiry: date, day: date) -> bool:
    """Whether a position held in the contract expiring `held_expiry` should be rolled on `day`."""
    return in_roll_window(instrument, held_expiry, day)


def expiry_alert_due(held_expiry: date, day: date, *, rolled: bool, alert_days: int) -> bool:
    """Whether a position is fewer than `alert_days` calendar days from expiry and still not rolled
    (docs/rules.md §7)."""
    return not rolled and days_to_expiry(held_expiry, day) < alert_days


# --- strikes -----------------------------------------------------------------------------------------------


def atm_strike(price: float, step: int) -> int:
    """The at-the-money strike: the multiple of `step` nearest `price`; an exact tie goes to the multiple of 2 × step.

    50,347 → 50,500; 50,250 → 50,000; 50,750 → 51,000 (step 500).
    """
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a finite number above 0, got {price!r}")
    if step <= 0:
        raise ValueError(f"strike step must be above 0, got {step!r}")
    below = math.floor(price / step) * step
    above = below + step
    distance_below, distance_above = price - below, above - price
    if distance_below < distance_above:
        return int(below)
    if distance_above < distance_below:
        return int(above)
    return int(below) if below % (2 * step) == 0 else int(above)
