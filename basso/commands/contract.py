"""`basso contract`: which contract an entry on a date goes into, and why (docs/rules.md §7)."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from typing import Any

from basso.cli import UsageError
from basso.commands.common import instrument_arg, iso_date, load_user_config
from basso.rules.calendars import calendar_for
from basso.rules.contracts import ContractChoice, days_to_expiry, entry_contract
from basso.timeutil import IST

# Fixed English names: strftime("%a") follows the process locale.
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def register(subparsers: Any) -> None:
    """Add the `contract` sub-command."""
    parser = subparsers.add_parser(
        "contract",
        help="the contract an entry on a date goes into",
        description="The monthly contract an entry on a date goes into: the nearest expiry, or the next one when "
        "the nearest is inside the instrument's roll window.",
    )
    parser.add_argument("--instrument", required=True, help="instrument name, e.g. BANK_NIFTY or GOLD_MINI")
    parser.add_argument("--on", type=iso_date, metavar="YYYY-MM-DD", help="the entry date (default: today in IST)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the entry contract for --instrument on --on."""
    config = load_user_config(args)
    instrument = instrument_arg(config, args.instrument)
    day: date = args.on if args.on is not None else datetime.now(IST).date()
    calendar = calendar_for(config, instrument)  # a ConfigError here is the config's fault, not --on's
    try:
        choice = entry_contract(instrument, calendar, day)
        symbol = choice.contract.future_symbol
    except ValueError as exc:  # a date so far out that no expiry or two-digit year names it
        raise UsageError(f"--on: {exc}") from None
    report = {
        "instrument": instrument.name,
        "expiry": choice.contract.expiry.isoformat(),
        "symbol": symbol,
        "days_to_expiry": choice.days_to_expiry,
        # Whether the nearest contract was passed over because it expires inside the roll window: the chosen
        # contract itself never is in it (an entry never goes into a contract that would have to be rolled).
        "nearest_expiry": choice.nearest_expiry.isoformat(),
        "nearest_skipped": choice.nearest_in_roll_window,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(_table(report, choice, day, instrument.roll_days))
    return 0


def _table(report: dict[str, Any], choice: ContractChoice, day: date, roll_days: int) -> str:
    expiry = choice.contract.expiry
    if choice.nearest_in_roll_window:
        why = (
            f"the next contract: the nearest expires {choice.nearest_expiry.isoformat()}, only "
            f"{days_to_expiry(choice.nearest_expiry, day)} days away, inside the {roll_days}-day roll window"
        )
    else:
        why = f"the nearest contract: {choice.days_to_expiry} days to expiry, outside the {roll_days}-day roll window"
    rows = [
        ("instrument", report["instrument"]),
        ("entry on", day.isoformat()),
        ("expiry", f"{expiry.isoformat()} ({_WEEKDAYS[expiry.weekday()]})"),
        ("symbol", report["symbol"]),
        ("days to expiry", str(report["days_to_expiry"])),
        ("goes into", why),
    ]
    return "\n".join(f"{label:<16}{value}" for label, value in rows)
