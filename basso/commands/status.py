"""`basso status`: the running server's portfolio as a table (or JSON)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from basso.commands.remote import accepted, add_server_arguments, call
from basso.display import rupees


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("status", help="show the running server's portfolio")
    add_server_arguments(parser, admin=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def _get(args: argparse.Namespace, path: str) -> dict[str, Any]:
    return accepted(*call(args, "GET", path))


def _console() -> Console:
    # Piped or redirected, there is no screen to fit: rich would assume 80 columns and cut the tables' columns
    # short, so they get the width they need instead.
    console = Console()
    return console if console.is_terminal else Console(width=10_000)


def _drawdown_rows(drawdown: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The drawdown band, its peak and window, the last reset and how to reset (docs/rules.md §2)."""
    if drawdown is None:
        return []
    window = f"last {drawdown['peak_days']} days" if drawdown["peak_days"] else "all time"
    reset = drawdown["last_reset"]
    return [
        ("drawdown band", f"{drawdown['band_name']}: {drawdown['rule']}"),
        ("drawdown peak", f"{rupees(drawdown['peak'])} (highest equity, {window})"),
        ("last peak reset", "never" if reset is None else f"{reset['at']} by {reset['by']}: {reset['reason']}"),
        ("to reset the peak", drawdown["how_to_reset"]),
    ]


def run(args: argparse.Namespace) -> int:
    status, positions = _get(args, "/api/status"), _get(args, "/api/positions")
    if args.json:
        print(json.dumps({"status": status, "positions": positions["positions"]}))
        return 0
    console = _console()
    summary = Table(title="Portfolio", show_header=False)
    equity = status["equity"]
    for label, value in [
        ("closed equity", rupees(equity["closed"])),
        ("open equity", rupees(equity["open"])),
        ("blended equity", rupees(equity["blended"])),
        ("high water", rupees(equity["high_water"])),
        ("risk", f"{status['risk_pct']:.2f}% ({status['risk_zone']})"),
        ("volatility", f"{status['vol_pct']:.2f}% ({status['vol_zone']})"),
        ("margin used", f"{rupees(status['margin_used'])} ({status['margin_utilisation_pct']:.1f}%)"),
        ("drawdown", f"{status['drawdown_pct']:.2f}%"),
        *_drawdown_rows(status.get("drawdown")),
        ("kill switch", "ON" if status["kill_switch"] else "off"),
        ("this instance leads", "yes" if status["leader"] else "no"),
        ("fence", f"epoch {status['leadership']['epoch']}, {status['leadership']['holder']}"),
    ]:
        summary.add_row(label, str(value))
    console.print(summary)
    layers = Table(title="Open layers")
    for column in ("instrument", "layer", "lots", "expiry", "entry", "stop", "mark", "unrealised P&L"):
        # On a narrow terminal a figure wraps within its cell rather than lose digits; what a row is about never
        # wraps.
        layers.add_column(
            column,
            no_wrap=column in ("instrument", "layer"),
            overflow="fold",
            justify="left" if column in ("instrument", "layer", "expiry") else "right",
        )
    for p in positions["positions"]:
        layers.add_row(
            p["instrument"],
            p["layer"],
            str(p["lots"]),
            p["expiry"] or "-",
            p["entry_price"],
            p["current_stop"],
            p["mark"],
            rupees(p["unrealised_pnl"]),
        )
    console.print(layers)
    for alert in status["alerts"]:  # layers to roll by hand, or about to expire
        style = "bold red" if alert["level"] == "critical" else "yellow"
        console.print(
            f"{alert['level'].upper()}: {alert['instrument']} {alert['layer']} in {alert['contract']} "
            f"(expires {alert['expiry']}): {alert['message']}",
            style=style,
        )
    return 0
