"""`basso status`: the running server's portfolio as a table (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from basso.cli import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("status", help="show the running server's portfolio")
    parser.add_argument("--url", default="http://127.0.0.1:5002", help="the server (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


async def _fetch(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{url}/api/status") as response:
            status = await response.json()
        async with session.get(f"{url}/api/positions") as response:
            positions = await response.json()
    return status, positions


def run(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/")
    try:
        status, positions = asyncio.run(_fetch(url))
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        raise UsageError(f"--url: no Basso server answered at {url}: {exc or type(exc).__name__}") from None
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
        ("margin used", f"{status['margin_used']:,.0f} ({status['margin_utilisation_pct']:.1f}%)"),
        ("drawdown", f"{status['drawdown_pct']:.2f}%"), ("kill switch", "ON" if status["kill_switch"] else "off"),
        ("leader", "yes" if status["leader"] else "no"),
    ]:
        summary.add_row(label, str(value))
    console.print(summary)
    layers = Table(title="Open layers")
    for column in ("instrument", "layer", "lots", "entry", "stop", "mark", "unrealised P&L"):
        layers.add_column(column)
    for p in positions["positions"]:
        layers.add_row(p["instrument"], p["layer"], str(p["lots"]), p["entry_price"], p["current_stop"], p["mark"],
                       p["unrealised_pnl"])
    console.print(layers)
    return 0
