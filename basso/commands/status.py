"""`basso status`: the running server's portfolio as a table (or JSON)."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from basso.commands.remote import accepted, add_server_arguments, call


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("status", help="show the running server's portfolio")
    add_server_arguments(parser, admin=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def _get(args: argparse.Namespace, path: str) -> dict[str, Any]:
    return accepted(*call(args, "GET", path))


def _drawdown_rows(drawdown: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The drawdown band, its peak and window, the last reset and how to reset (docs/rules.md §2)."""
    if drawdown is None:
        return []
    window = f"last {drawdown['peak_days']} days" if drawdown["peak_days"] else "all time"
    reset = drawdown["last_reset"]
    return [("drawdown band", f"{drawdown['band_name']}: {drawdown['rule']}"),
            ("drawdown peak", f"{drawdown['peak']} (highest equity, {window})"),
            ("last peak reset", "never" if reset is None else f"{reset['at']} by {reset['by']}: {reset['reason']}"),
            ("to reset the peak", drawdown["how_to_reset"])]


def run(args: argparse.Namespace) -> int:
    status, positions = _get(args, "/api/status"), _get(args, "/api/positions")
    if args.json:
        print(json.dumps({"status": status, "positions": positions["positions"]}))
        return 0
    console = Console()
    summary = Table(title="Portfolio", show_header=False)
    equity = status["equity"]
    for label, value in [
        ("closed equity", equity["closed"]), ("open equity", equity["open"]), ("blended equity", equity["blended"]),
        ("high water", equity["high_water"]),
        ("risk", f"{status['risk_pct']:.2f}% ({status['risk_zone']})"),
        ("volatility", f"{status['vol_pct']:.2f}% ({status['vol_zone']})"),
        ("margin used", f"{Decimal(status['margin_used']):,.0f} ({status['margin_utilisation_pct']:.1f}%)"),
        ("drawdown", f"{status['drawdown_pct']:.2f}%"), *_drawdown_rows(status.get("drawdown")),
        ("kill switch", "ON" if status["kill_switch"] else "off"),
        ("this instance leads", "yes" if status["leader"] else "no"),
        ("fence", f"epoch {status['leadership']['epoch']}, {status['leadership']['holder']}"),
    ]:
        summary.add_row(label, str(value))
    console.print(summary)
    layers = Table(title="Open layers")
    for column in ("instrument", "layer", "lots", "expiry", "entry", "stop", "mark", "unrealised P&L"):
        # On a narrow terminal the figures are shortened first; what a row is about never is.
        layers.add_column(column, no_wrap=column in ("instrument", "layer"))
    for p in positions["positions"]:
        layers.add_row(p["instrument"], p["layer"], str(p["lots"]), p["expiry"] or "-", p["entry_price"],
                       p["current_stop"], p["mark"], p["unrealised_pnl"])
    console.print(layers)
    for alert in status["alerts"]:  # layers to roll by hand, or about to expire
        style = "bold red" if alert["level"] == "critical" else "yellow"
        console.print(f"{alert['level'].upper()}: {alert['instrument']} {alert['layer']} in {alert['contract']} "
                      f"(expires {alert['expiry']}): {alert['message']}", style=style)
    return 0
