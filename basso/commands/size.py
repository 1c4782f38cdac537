"""`basso size`: size a base entry from the command line and say which constraint binds (docs/rules.md §3).

The same `size_base_entry` the live system and the backtest call; nothing is computed here but the
presentation. Bad input is one line naming the argument, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from basso.cli import UsageError
from basso.commands.common import instrument_arg, iso_date, load_user_config, non_negative_number, positive_number
from basso.display import rupees
from basso.rules.sizing import SizingDecision, size_base_entry


def efficiency_ratio(text: str) -> float:
    """An efficiency ratio: a number in [0, 1] (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def register(subparsers: Any) -> None:
    """Add the `size` sub-command."""
    parser = subparsers.add_parser(
        "size",
        help="size a base entry (Lot-R, Lot-V, Lot-M and the portfolio gate)",
        description="Size a base entry with the configured rules: Lot-R (× ER), Lot-V, Lot-M, the floor of the "
        "smallest, then the portfolio risk and volatility caps.",
    )
    parser.add_argument("--instrument", required=True, help="instrument name, e.g. BANK_NIFTY or GOLD_MINI")
    parser.add_argument("--equity", required=True, type=positive_number, metavar="RUPEES", help="sizing equity")
    parser.add_argument("--price", required=True, type=positive_number, help="entry price")
    parser.add_argument(
        "--stop",
        type=positive_number,
        help="the signal's initial stop, below --price (required when stop_source is 'signal')",
    )
    parser.add_argument("--atr", required=True, type=positive_number, help="the instrument's latest ATR")
    parser.add_argument(
        "--er",
        type=efficiency_ratio,
        default=1.0,
        help="the signal's efficiency ratio in [0, 1] (default 1: no scaling)",
    )
    parser.add_argument(
        "--margin-used",
        type=non_negative_number,
        default=0.0,
        metavar="RUPEES",
        help="margin already held by open positions (default 0)",
    )
    parser.add_argument(
        "--open-risk",
        type=non_negative_number,
        default=0.0,
        metavar="RUPEES",
        help="the portfolio's current open risk (default 0)",
    )
    parser.add_argument(
        "--open-vol",
        type=non_negative_number,
        default=0.0,
        metavar="RUPEES",
        help="the portfolio's current volatility (default 0)",
    )
    parser.add_argument(
        "--on",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="size with the lot size in force on this date (default: the current one)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the sizing decision for the arguments."""
    config = load_user_config(args)
    instrument = instrument_arg(config, args.instrument)
    if config.portfolio.stop_source == "signal":
        if args.stop is None:
            raise UsageError("--stop: required (the configured stop_source is 'signal')")
        if args.stop >= args.price:
            raise UsageError(f"--stop: must be below --price ({args.price:g}), got {args.stop:g}")
    point_value = instrument.point_value if args.on is None else instrument.point_value_on(args.on)
    decision = size_base_entry(
        instrument=instrument,
        rules=config.portfolio,
        equity=args.equity,
        price=args.price,
        signal_stop=args.stop,
        atr=args.atr,
        er=args.er,
        margin_used=args.margin_used,
        open_risk=args.open_risk,
        open_volatility=args.open_vol,
        point_value=point_value,
    )
    report = _report(decision, er=args.er, point_value=point_value)
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


def _report(decision: SizingDecision, *, er: float, point_value: float) -> dict[str, Any]:
    return {
        "instrument": decision.instrument,
        "equity": decision.equity,
        "price": decision.price,
        "stop": decision.stop,
        "atr": decision.atr,
        "er": er,
        "point_value": point_value,
        "lot_r": decision.lot_r,
        "lot_v": decision.lot_v,
        "lot_m": decision.lot_m,
        "lots_before_gate": decision.lots_before_gate,
        "lots": decision.lots,
        "limiter": decision.limiter,
        "reason": decision.reason,
    }


def _print_table(report: dict[str, Any]) -> None:
    table = Table(title=f"{report['instrument']}: base entry at {report['price']:,.2f}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("equity", rupees(report["equity"]))
    table.add_row("stop", f"{report['stop']:,.2f}")
    table.add_row("ATR", f"{report['atr']:,.2f}")
    table.add_row("ER", f"{report['er']:g}")
    table.add_row("point value", f"{rupees(report['point_value'])} per point per lot")
    table.add_row("Lot-R (risk)", f"{report['lot_r']:.3f}")
    table.add_row("Lot-V (volatility)", f"{report['lot_v']:.3f}")
    table.add_row("Lot-M (margin)", f"{report['lot_m']:.3f}")
    table.add_row("lots", str(report["lots"]))
    table.add_row("limited by", report["limiter"])
    table.add_row("reason", report["reason"])
    Console(file=sys.stdout, width=100).print(table)
