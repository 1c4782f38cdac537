"""`basso send`: post one signal to a running server's webhook, as TradingView would, and print its outcome.

The signal is stamped now (so it is never stale) and carries the webhook secret from $BASSO_WEBHOOK_SECRET or
the file `basso run` generated in its data directory; it goes to the configured host and port. Without figures
on the command line, the sample numbers of `tests/data/sample_webhook_payloads.json` are used, so
`basso send base_entry` is the quickest way to see a decision. The server validates the signal exactly as it
validates TradingView's: a mistake comes back as one line naming the field.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from basso.cli import UsageError
from basso.commands.common import finite_number, load_user_config
from basso.commands.remote import server_url
from basso.config import Config

# The sample payloads' figures, by (type, instrument): what `basso send` posts when no figure is given.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("BASE_ENTRY", "BANK_NIFTY"): {
        "position": "Long_1",
        "price": 52000,
        "stop": 51650,
        "lots": 5,
        "atr": 350,
        "er": 0.82,
    },
    ("BASE_ENTRY", "GOLD_MINI"): {
        "position": "Long_1",
        "price": 72000,
        "stop": 71500,
        "lots": 3,
        "atr": 500,
        "er": 0.75,
    },
    ("PYRAMID", "BANK_NIFTY"): {"position": "Long_2", "price": 52200, "stop": 51800, "lots": 3, "atr": 360, "er": 0.85},
    ("EXIT", "BANK_NIFTY"): {"position": "ALL", "price": 52500},
}
TYPES = ("BASE_ENTRY", "PYRAMID", "EXIT", "MARKET_DATA")
# How long to wait for the leader to decide before saying the signal is still pending.
OUTCOME_WAIT_S = 10.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("send", help="send a signal to the running server's webhook and print its outcome")
    parser.add_argument(
        "type",
        type=str.upper,
        choices=TYPES,
        metavar="TYPE",
        help="base_entry, pyramid, exit or market_data (any case)",
    )
    parser.add_argument(
        "instrument",
        type=str.upper,
        nargs="?",
        default="BANK_NIFTY",
        metavar="INSTRUMENT",
        help="a configured instrument (default BANK_NIFTY)",
    )
    parser.add_argument("--position", help="Long_1 … Long_6, or ALL for an exit (default: the sample's)")
    for name in ("price", "stop", "atr", "er"):
        parser.add_argument(f"--{name}", type=finite_number, help=f"the signal's {name} (default: the sample's)")
    parser.add_argument("--lots", type=int, help="the strategy's own lots, recorded (default: the sample's)")
    parser.add_argument("--reason", help="an exit's reason (default 'sent by basso send')")
    parser.add_argument(
        "--id", dest="signal_id", help="the signal_id, its idempotency key (default: made from the time)"
    )
    parser.add_argument("--url", help="the server (default: http://HOST:PORT from the configuration)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where `basso run` keeps the webhook secret (default: the configuration's data_dir, basso-data)",
    )
    parser.add_argument("--json", action="store_true", help="print the stored signal as one JSON object")
    parser.set_defaults(run=run)


def payload(args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """The webhook body: the sample's figures under the ones given, stamped `now` (UTC, with Z)."""
    body: dict[str, Any] = {
        "type": args.type,
        "instrument": args.instrument,
        **SAMPLES.get((args.type, args.instrument), {}),
    }
    given = {
        "position": args.position,
        "price": args.price,
        "stop": args.stop,
        "atr": args.atr,
        "er": args.er,
        "lots": args.lots,
    }
    body |= {k: v for k, v in given.items() if v is not None}
    if args.type in ("BASE_ENTRY", "PYRAMID") and "stop" in body:
        body["supertrend"] = body["stop"]  # recorded only; the samples' supertrend is their stop
    if args.type == "EXIT":
        body["reason"] = args.reason or "sent by basso send"
        body.setdefault("position", "ALL")
    if args.type == "MARKET_DATA":
        body = {k: v for k, v in body.items() if k in ("type", "instrument", "price", "atr")}
    body["timestamp"] = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body["signal_id"] = args.signal_id or f"send-{now.astimezone(UTC):%Y%m%dT%H%M%S%f}"
    return body


def webhook_secret(args: argparse.Namespace, config: Config) -> str:
    """$BASSO_WEBHOOK_SECRET, else the one `basso run` generated into DATA_DIR/webhook-secret."""
    secret = os.environ.get("BASSO_WEBHOOK_SECRET", "")
    if secret:
        return secret
    path: Path = (args.data_dir or config.server.data_dir) / "webhook-secret"
    try:
        return path.read_text().strip()
    except OSError:
        raise UsageError(
            f"--data-dir: BASSO_WEBHOOK_SECRET is unset and {path} cannot be read (start "
            "`basso run` first, or run this where it keeps its data directory)"
        ) from None


def run(args: argparse.Namespace) -> int:
    config = load_user_config(args)
    body = payload(args, datetime.now(UTC))
    body["secret"] = webhook_secret(args, config)
    url = server_url(args)
    try:
        status, reply, stored = asyncio.run(_send(url, body))
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        raise UsageError(f"--url: no Basso server answered at {url}: {exc or type(exc).__name__}") from None
    if status != 200 or not isinstance(reply, dict):
        print(f"basso send: {_refusal(status, reply)}", file=sys.stderr)
        return 1
    if reply.get("status") == "rejected":
        print(f"basso send: {body['signal_id']} rejected: {reply.get('reason', '')}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stored if stored is not None else reply))
    else:
        print(describe(body["signal_id"], str(reply.get("status")), stored))
    return 0


def describe(signal_id: str, reply: str, stored: dict[str, Any] | None) -> str:
    """One line: the webhook's reply and, once decided, the outcome with the numbers behind it."""
    if stored is None or stored.get("status") == "pending":
        return (
            f"{signal_id}: {reply}, still pending after {OUTCOME_WAIT_S:g} s (is an instance leading? "
            "`basso status` says)"
        )
    line = f"{signal_id}: {reply}, {stored['status']}: {stored['reason']}"
    decision = stored.get("decision") or {}
    if "lot_r" in decision:
        line += f" (Lot-R {decision['lot_r']:.2f}, Lot-V {decision['lot_v']:.2f}, Lot-M {decision['lot_m']:.2f})"
    elif "a_margin" in decision:
        line += (
            f" (A {decision['a_margin']:.2f}, B {decision['b_discipline']:.2f}, "
            f"C {decision['c_profit_budget']:.2f}, D {decision['d_headroom']:.2f})"
        )
    return line


def _refusal(status: int, reply: Any) -> str:
    if status == 401:
        return "the server refused the webhook secret (401): is BASSO_WEBHOOK_SECRET or --data-dir the server's?"
    if isinstance(reply, dict) and "error" in reply:
        return f"the server refused the signal ({status}): {reply.get('field', 'body')}: {reply['error']}"
    return f"the server answered {status}"


async def _send(url: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, Any] | None]:
    """POST the signal; once stored, read it back until the leader has decided it (or OUTCOME_WAIT_S passes)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(f"{url}/webhook", json=body) as response:
            status, reply = response.status, await response.json(content_type=None)
        if status != 200 or not isinstance(reply, dict) or reply.get("status") not in ("accepted", "duplicate"):
            return status, reply, None
        return status, reply, await _outcome(session, f"{url}/api/signals/{body['signal_id']}")


async def _outcome(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    stored: dict[str, Any] | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OUTCOME_WAIT_S
    while loop.time() < deadline:
        async with session.get(url) as response:
            found = await response.json(content_type=None) if response.status == 200 else None
        if isinstance(found, dict):
            stored = found
            if found.get("status") != "pending":
                break
        await asyncio.sleep(0.05)  # a person is waiting on a server in another process: poll, briefly
    return stored
