"""Equity over time (docs/rules.md §10): `GET /api/equity` and the dashboard's chart, one computation for both.

Every change of the book's facts leaves an equity mark (sql/012): closed equity, unrealised P&L and the high water
at that moment. This reads them over a window, at most `MAX_POINTS` points however long the history (the
database thins them, keeping each stretch's worst drawdown), and adds what the configuration decides: blended
equity, closed + `[portfolio] blended_unrealised_weight` × unrealised, as /api/status computes it.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from basso.http.api import json_reply
from basso.http.state import SERVICES, Services
from basso.rules.money import to_money
from basso.store import dashboard as dashboard_store

MAX_POINTS = 500

# A "+" in a query string arrives as a space (form encoding): "…T09:15:00 05:30" meant "…T09:15:00+05:30".
_SPACED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")


class BadQuery(ValueError):
    """A query parameter that cannot be used, and which one."""

    def __init__(self, field: str, error: str) -> None:
        super().__init__(error)
        self.field = field


def parse_since(text: str | None) -> datetime | None:
    """`since` as a timezone-aware time; None when absent (the whole history). BadQuery if it is not one."""
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", text.strip()))
    except ValueError:
        raise BadQuery("since", f"since must be an ISO-8601 time with its offset, got {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise BadQuery("since", f"since must carry its UTC offset (e.g. +05:30 or Z), got {text[:40]!r}")
    return moment


def parse_points(text: str | None) -> int:
    """How many points at most (2–`MAX_POINTS`, default `MAX_POINTS`)."""
    if text is None or text == "":
        return MAX_POINTS
    if not text.isdigit() or not 2 <= int(text) <= MAX_POINTS:
        raise BadQuery("points", f"points must be a whole number from 2 to {MAX_POINTS}, got {text[:20]!r}")
    return int(text)


async def equity_report(services: Services, *, since: datetime | None, points: int = MAX_POINTS) -> dict[str, Any]:
    """What /api/equity answers and the dashboard's chart draws: the marks at or after `since`, oldest first."""
    weight = Decimal(str(services.config.portfolio.blended_unrealised_weight))
    rows = await dashboard_store.equity_history(services.pool, since=since, points=points)
    shown = []
    for row in rows:
        unrealised: Decimal | None = row["unrealised"]
        shown.append(
            {
                "at": row["at"],
                "closed": row["closed"],
                "unrealised": None if unrealised is None else to_money(unrealised),
                "blended": None if unrealised is None else to_money(row["closed"] + weight * unrealised),
                "high_water": row["high_water"],
                # Closed equity's drawdown below its high water, in percent: the worst within the stretch a point
                # stands for. The drawdown rules' own figure (sizing equity against its peak) is /api/status's.
                "drawdown_pct": round(float(row["drawdown"]) * 100, 4),
                "marks": row["marks"],
            }
        )
    return {"since": since, "blended_unrealised_weight": str(weight), "points": shown}


async def equity(request: web.Request) -> web.Response:
    """`GET /api/equity?since=…&points=…`: equity (closed, unrealised, blended, high water) and drawdown over time."""
    try:
        since = parse_since(request.query.get("since"))
        points = parse_points(request.query.get("points"))
    except BadQuery as bad:
        return json_reply({"status": "error", "field": bad.field, "error": str(bad)}, status=400)
    return json_reply(await equity_report(request.app[SERVICES], since=since, points=points))


def chart_json(report: dict[str, Any]) -> str:
    """The report as the page embeds it for its chart: /api/equity's own reply, as JSON text ("<" escaped, so
    nothing in it can close the script element that holds it)."""
    return orjson.dumps(report, default=_plain).decode().replace("<", "\\u003c")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # as json_reply writes it: exact decimal strings
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError
