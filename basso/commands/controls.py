"""`basso kill-switch on|off`, `basso flatten --yes`, `basso capital deposit|withdraw AMOUNT`, `basso drawdown
reset --reason …`, `basso roll [--dry-run]` and `basso order resolve CLIENT_ID …`: the operator's controls, sent
to the running server with the admin token."""

from __future__ import annotations

import argparse

from basso.cli import UsageError
from basso.commands.remote import accepted, add_server_arguments, admin_token, call
from basso.display import rupees


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kill = sub.add_parser(
        "kill-switch",
        help="stop (on) or allow again (off) every new entry and pyramid",
        description="Stop every new entry and pyramid at once (on), or allow them again (off). "
        "Exits, stops and peel-offs are never blocked.",
    )
    kill.add_argument("state", choices=("on", "off"))
    kill.add_argument("--reason", default="", help="why, for the audit trail")
    add_server_arguments(kill, admin=True)
    kill.set_defaults(run=run_kill_switch)

    flatten = sub.add_parser(
        "flatten",
        help="close every open position (needs --yes)",
        description="Close every open layer of every instrument at its latest mark: one EXIT "
        "ALL per instrument, processed in order like any signal. Turn the kill "
        "switch on first if no new entries may follow.",
    )
    flatten.add_argument("--yes", action="store_true", help="yes, close everything")
    flatten.add_argument("--reason", default="", help="why, for the audit trail")
    add_server_arguments(flatten, admin=True)
    flatten.set_defaults(run=run_flatten)

    capital = sub.add_parser("capital", help="deposit or withdraw capital (a ledger row)")
    capital.add_argument("action", choices=("deposit", "withdraw"))
    capital.add_argument("amount", help="rupees, at most two decimals, e.g. 250000 or 1234.50")
    capital.add_argument("--note", default="", help="a note for the ledger row")
    add_server_arguments(capital, admin=True)
    capital.set_defaults(run=run_capital)

    roll = sub.add_parser(
        "roll",
        help="roll every position inside its roll window now (or --dry-run: list them)",
        description="Ask the leader's RolloverScanner to scan now: every open position inside its "
        "contract's roll window (in market hours) starts a roll into the next "
        "contract. --dry-run lists each held contract and what a scan would do.",
    )
    roll.add_argument("--dry-run", action="store_true", help="only list what a scan would do")
    add_server_arguments(roll, admin=True)
    roll.set_defaults(run=run_roll)

    drawdown = sub.add_parser(
        "drawdown",
        help="reset the drawdown peak to today's equity",
        description="The drawdown rules measure equity against its peak. With nothing open "
        "equity cannot recover by itself: `drawdown reset` makes today's equity "
        "the peak, so new entries are sized as if from a fresh start. Audited.",
    )
    actions = drawdown.add_subparsers(dest="action", required=True, metavar="ACTION")
    reset = actions.add_parser("reset", help="make today's equity the drawdown peak (needs --reason)")
    reset.add_argument("--reason", required=True, help="why, for the audit trail (required)")
    add_server_arguments(reset, admin=True)
    reset.set_defaults(run=run_drawdown_reset)

    order = sub.add_parser(
        "order",
        help="say how an unknown order ended at the broker",
        description="An order Basso could not resolve at the broker stays `unknown` and blocks new entries on "
        "its instrument. Look it up in OpenAlgo and say what filled: `order resolve CLIENT_ID --filled "
        "LOTS --price AVERAGE --reason …` books the fill (its commission at the configured rate) and "
        "ends the order; --filled 0 says nothing filled (an exit's lots are held again).",
    )
    order_actions = order.add_subparsers(dest="action", required=True, metavar="ACTION")
    resolve = order_actions.add_parser("resolve", help="book what filled of an unknown order, and end it")
    resolve.add_argument("client_id", help="the order's client id (basso status lists working orders)")
    resolve.add_argument("--filled", type=int, required=True, help="lots that filled in all (0: none)")
    resolve.add_argument("--price", help="the average price of what filled (a synthetic: strike + call − put)")
    resolve.add_argument("--reason", required=True, help="what the broker showed, for the audit trail (required)")
    add_server_arguments(resolve, admin=True)
    resolve.set_defaults(run=run_order_resolve)


def run_kill_switch(args: argparse.Namespace) -> int:
    reply = accepted(
        *call(
            args, "POST", "/api/kill-switch", {"on": args.state == "on", "reason": args.reason}, token=admin_token(args)
        )
    )
    print(f"kill switch {args.state}" + ("" if reply["changed"] else " (it already was)"))
    return 0


def run_flatten(args: argparse.Namespace) -> int:
    if not args.yes:
        raise UsageError("--yes: flatten closes every open position; say --yes to do it")
    reply = accepted(
        *call(args, "POST", "/api/flatten", {"confirm": True, "reason": args.reason}, token=admin_token(args))
    )
    signals = reply["signals"]
    print(
        f"flatten: {len(signals)} exit signal{'s' if len(signals) != 1 else ''} stored"
        if signals
        else "flatten: nothing open"
    )
    return 0


def run_capital(args: argparse.Namespace) -> int:
    kind = "deposit" if args.action == "deposit" else "withdrawal"
    reply = accepted(
        *call(
            args,
            "POST",
            "/api/capital",
            {"kind": kind, "amount": args.amount, "note": args.note},
            token=admin_token(args),
        )
    )
    print(f"{kind} of {rupees(reply['amount'])}: closed equity {rupees(reply['closed_equity'])}")
    return 0


def run_roll(args: argparse.Namespace) -> int:
    reply = accepted(*call(args, "POST", "/api/rollover", {"dry_run": args.dry_run}, token=admin_token(args)))
    candidates = reply["candidates"]
    for c in candidates:
        print(f"{c['instrument']:<12} {c['contract']:<22} expires {c['expiry']}  {c['urgency']:<8} {c['action']}")
    if not candidates:
        print("no open position holds a contract")
    if not args.dry_run:
        print("scan requested: rolls due start now; their progress is in /api/rollover and the alerts")
    return 0


def run_drawdown_reset(args: argparse.Namespace) -> int:
    reply = accepted(*call(args, "POST", "/api/drawdown/reset", {"reason": args.reason}, token=admin_token(args)))
    print(
        f"drawdown peak reset from {rupees(reply['peak_before'])} to {rupees(reply['peak'])} "
        f"(drawdown was {reply['drawdown_pct_before']:.2f}%)"
    )
    return 0


def run_order_resolve(args: argparse.Namespace) -> int:
    body = {"client_id": args.client_id, "filled_lots": args.filled, "price": args.price, "reason": args.reason}
    reply = accepted(*call(args, "POST", "/api/orders/resolve", body, token=admin_token(args)))
    filled = (
        f"{reply['filled_lots']} of {reply['lots']} lots at {reply['price']}" if reply["filled_lots"] else "nothing"
    )
    print(
        f"order {reply['client_id']} ({reply['side']} {reply['instrument']} Long_{reply['layer']}): "
        f"{filled} filled; {reply['status']}"
    )
    return 0
