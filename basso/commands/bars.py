"""`basso bars fetch`: OHLC bars for an instrument from OpenAlgo's history endpoint, written as the CSV
`basso backtest --bars` reads."""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import date
from pathlib import Path
from typing import Any

from basso.brokers.history import INTERVALS, History, HistoryError, fetch_history
from basso.brokers.openalgo import OpenAlgoClient
from basso.cli import UsageError
from basso.commands.common import instrument_arg, iso_date, load_user_config
from basso.config import Config, Instrument
from basso.rules.calendars import calendar_for
from basso.rules.contracts import entry_contract

DEFAULT_URL = "http://127.0.0.1:5000"  # where OpenAlgo serves by default
API_KEY_VARIABLE = "BASSO_OPENALGO_API_KEY"  # the one variable `basso run` reads the key from too
_TIMEOUT_S = 300.0  # a year of hourly bars is one request, which the broker's module fetches in chunks


def register(subparsers: Any) -> None:
    """Add the `bars` sub-command (with `fetch`)."""
    parser = subparsers.add_parser("bars", help="get OHLC bars for --bars (basso backtest, montecarlo, sweep)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=type(parser))
    fetch = actions.add_parser(
        "fetch",
        help="fetch bars from OpenAlgo's history endpoint into a CSV file",
        description="Fetch OHLC bars from your OpenAlgo gateway (POST /api/v1/history) and write the CSV that "
        "--bars reads. The symbol defaults to the instrument's monthly future in force on --to "
        "(as `basso contract` names it); --symbol and --exchange fetch another series, e.g. "
        "--symbol BANKNIFTY --exchange NSE_INDEX for the index itself.",
    )
    fetch.add_argument("--instrument", required=True, help="the configured instrument, e.g. BANK_NIFTY")
    fetch.add_argument(
        "--from", dest="start", required=True, type=iso_date, metavar="YYYY-MM-DD", help="first day (inclusive)"
    )
    fetch.add_argument(
        "--to", dest="end", required=True, type=iso_date, metavar="YYYY-MM-DD", help="last day (inclusive)"
    )
    fetch.add_argument(
        "--interval",
        required=True,
        choices=INTERVALS,
        metavar="INTERVAL",
        help="bar length as OpenAlgo names it: 1m, 5m, 15m, 30m, 1h, D, …",
    )
    fetch.add_argument("--out", required=True, type=Path, metavar="FILE", help="the CSV file to write")
    fetch.add_argument("--symbol", help="the broker symbol (default: the monthly future in force on --to)")
    fetch.add_argument("--exchange", help="the exchange (default: the instrument's, e.g. NFO, MCX)")
    fetch.add_argument(
        "--url", help=f"the OpenAlgo gateway (default: the configuration's [broker] url if set, else {DEFAULT_URL})"
    )
    fetch.add_argument("--api-key", help=f"the OpenAlgo API key (default: ${API_KEY_VARIABLE}, as `basso run` reads)")
    fetch.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Fetch, check and write the bars; one line says what was written."""
    config = load_user_config(args)
    instrument = instrument_arg(config, args.instrument)
    if args.end < args.start:
        raise UsageError(f"--to: {args.end} is before --from {args.start}")
    api_key = _api_key(args)
    url = _url(args, config)
    symbol = args.symbol or _future_on(config, instrument, args.end)
    exchange = args.exchange or instrument.exchange
    try:
        history = asyncio.run(
            _fetch(url, api_key, instrument.name, symbol, exchange, args.interval, args.start, args.end)
        )
    except HistoryError as exc:
        raise UsageError(f"{symbol} ({exchange}): {exc}") from None
    _write(args.out, history.csv())
    bars = history.bars
    print(
        f"wrote {len(bars):,} bars of {symbol} ({exchange}, {args.interval}) from "
        f"{bars.time_of(0):%Y-%m-%d %H:%M} to {bars.time_of(len(bars) - 1):%Y-%m-%d %H:%M} to {args.out}"
    )
    return 0


async def _fetch(
    url: str, api_key: str, instrument: str, symbol: str, exchange: str, interval: str, start: date, end: date
) -> History:
    async with OpenAlgoClient(base_url=url, api_key=api_key, timeout_s=_TIMEOUT_S) as client:
        return await fetch_history(
            client, instrument=instrument, symbol=symbol, exchange=exchange, interval=interval, start=start, end=end
        )


def _api_key(args: argparse.Namespace) -> str:
    key: str = args.api_key or os.environ.get(API_KEY_VARIABLE, "").strip()
    if key:
        return key
    if os.environ.get("OPENALGO_API_KEY"):
        # Read by earlier versions: named, rather than ignored without a word.
        raise UsageError(f"OPENALGO_API_KEY is no longer read: put OpenAlgo's API key in {API_KEY_VARIABLE}")
    raise UsageError(f"--api-key: give OpenAlgo's API key in the environment variable {API_KEY_VARIABLE}")


def _url(args: argparse.Namespace, config: Config) -> str:
    url: str = args.url or config.broker.url
    if url:
        return url
    if os.environ.get("OPENALGO_URL"):
        raise UsageError("OPENALGO_URL is no longer read: set url under [broker] in the configuration, or give --url")
    return DEFAULT_URL


def _future_on(config: Config, instrument: Instrument, day: date) -> str:
    try:
        return str(entry_contract(instrument, calendar_for(config, instrument), day).contract.future_symbol)
    except ValueError as exc:
        raise UsageError(f"--to: {exc}") from None


def _write(path: Path, text: str) -> None:
    # Written beside the target and renamed over it: a failure never leaves half a file where bars were.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"--out: cannot write {path}: {exc.strerror}") from None
