"""The dashboard at `/` (docs/rules.md §10): one server-rendered page a trader keeps open all day.

The page is Jinja2 (aiohttp-jinja2); htmx swaps the panels in place when the server-sent event stream at
`/dashboard/events` says the facts changed (aiohttp-sse); uPlot draws equity and drawdown over time. Every asset
is vendored under `basso/http/static/` (no CDN: it works offline). The numbers are the read API's own
(`status_report`, `positions_report`, `rollover_report`, and `equity_report` for the chart, embedded as
/api/equity's reply), so the page and the API cannot disagree. The
controls post to the same admin endpoints with the admin token as a Bearer header (`static/dashboard.js`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import asyncpg
import jinja2
import orjson
from aiohttp import web
from aiohttp_sse import sse_response

from basso.formatting import age, decimal, number, rupees
from basso.http.api import positions_report, rollover_report, status_report
from basso.http.equity import chart_json, equity_report
from basso.http.state import SERVICES, Services
from basso.rules.contracts import days_to_expiry
from basso.store import alerts as alert_store
from basso.store import dashboard as dashboard_store
from basso.store import reads
from basso.timeutil import exchange_date

HERE = Path(__file__).parent
SIGNALS_SHOWN = 25
ALERTS_SHOWN = 25
ORDERS_SHOWN = 50


def setup_dashboard(app: web.Application) -> None:
    """Add the page, its panels, its event stream and its static files to `app`."""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(rupees=rupees, number=number, age=age)
    for name in ("dashboard.html", "panels.html", "controls.html"):
        environment.get_template(name)  # compiled now, at startup, not during a trader's first page load
    app.router.add_get("/", page)
    app.router.add_get("/dashboard/panels", panels)
    app.router.add_get("/dashboard/events", events)
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    app.on_shutdown.append(_end_streams)


async def _end_streams(app: web.Application) -> None:
    # A graceful stop waits for every open request to finish; an event stream would never finish by itself.
    app[SERVICES].feed.close()


# --- what the page shows ----------------------------------------------------------------------------------


def _zone_light(zone: str) -> str:
    return {"green": "green", "yellow": "yellow", "orange": "orange"}.get(zone, "red")


def _layer_view(position: Mapping[str, Any], today: date) -> dict[str, Any]:
    """A layer as the table shows it: the API's numbers plus the distance to its stop in points and in R
    (R = the layer's initial risk per point, entry − initial stop) and the calendar days to its expiry."""
    entry, stop, mark = (decimal(position[key]) for key in ("entry_price", "current_stop", "mark"))
    initial_risk = entry - decimal(position["initial_stop"])
    distance = mark - stop
    expiry = position["expiry"]
    return {
        **position,
        "distance_points": distance,
        "distance_r": distance / initial_risk if initial_risk > 0 else None,
        "days_to_expiry": days_to_expiry(expiry, today) if expiry is not None else None,
    }


def _by_instrument(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for layer in layers:
        groups.setdefault(layer["instrument"], []).append(layer)
    return [
        {
            "instrument": name,
            "layers": rows,
            "lots": sum(r["lots"] for r in rows),
            "unrealised_pnl": sum((decimal(r["unrealised_pnl"]) for r in rows), Decimal(0)),
        }
        for name, rows in sorted(groups.items())
    ]


def _signal_view(row: asyncpg.Record) -> dict[str, Any]:
    payload = orjson.loads(row["payload"])
    layer = f"Long_{row['layer']}" if row["layer"] is not None else payload.get("position", "")
    return {
        "id": row["id"],
        "key": row["key"],
        "type": row["kind"],
        "instrument": row["instrument"],
        "layer": layer or "",
        "price": payload.get("price"),
        "at": row["signal_time"],
        "status": row["outcome"],
        "reason": row["reason"] or _OUTCOME_WORDS.get(row["outcome"], ""),
    }


_OUTCOME_WORDS = {
    "pending": "waiting to be decided",
    "executed": "done",
    "blocked": "blocked by the rules",
    "ignored": "nothing to do",
    "rejected": "refused",
    "failed": "the broker said no",
    "dead": "crashed three times: see the dead letters",
}


def broker_lights(broker: Mapping[str, Any], now: datetime, every_s: float) -> tuple[dict[str, str], dict[str, str]]:
    """The broker session's light and the reconciliation's, from /api/status's `broker` (docs/rules.md §8).

    The newest reconciliation is the session's health check too: it read the broker's position book (green), or
    it could not (red, with the broker's words; entries wait on every instrument). A check older than twice the
    configured interval is overdue (yellow): the leader stopped checking, so "matched" is old news. The paper
    broker has no session to lose and holds nothing of its own to reconcile (grey)."""
    if broker["kind"] == "paper":
        return _light("grey", "paper broker"), _light("grey", "not needed: the paper broker holds nothing of its own")
    last = broker["reconciliation"]
    if last is None:
        return _light("yellow", "OpenAlgo: not checked yet"), _light("yellow", "none yet")
    seconds = (now - last["at"]).total_seconds()
    ago = f"{age(seconds)} ago"
    if last["error"]:
        return (
            _light("red", f"OpenAlgo: the position book could not be read {ago}: {last['error']}"),
            _light("red", f"not possible {ago}: new entries wait on every instrument"),
        )
    overdue = seconds > 2 * every_s
    fresh = "yellow" if overdue else "green"
    late = " (overdue)" if overdue else ""
    session = _light(fresh, f"OpenAlgo: position book read {ago}{late}")
    if last["matched"]:
        return session, _light(fresh, f"matched {ago}{late}")
    breaks = last["breaks"]
    blocked = ", ".join(sorted({b["instrument"] for b in breaks}))
    count = f"{len(breaks)} break{'' if len(breaks) == 1 else 's'}"
    return session, _light("red", f"{count} {ago}: new entries blocked on {blocked}")


def _light(light: str, word: str) -> dict[str, str]:
    return {"light": light, "word": word}


def _header(
    services: Services,
    status: Mapping[str, Any],
    bars: Mapping[str, datetime | None],
    open_instruments: set[str],
    rolls_due: int,
    unacknowledged: int,
    now: datetime,
) -> dict[str, Any]:
    leadership = status["leadership"]
    leads = bool(status["leader"])
    lease_age = services.lease_age_s() if leads else None
    bar_lights = []
    for name in services.config.instruments:
        at = bars.get(name)
        seconds = (now - at).total_seconds() if at is not None else None
        if name not in open_instruments:
            light = "grey"  # nothing open: a missing bar endangers no stop
        elif seconds is None or seconds > services.config.dashboard.bar_stale_s:
            light = "yellow"
        else:
            light = "green"
        bar_lights.append({"instrument": name, "light": light, "age_s": seconds})
    broker, reconciliation = broker_lights(status["broker"], now, services.config.broker.reconcile_every_s)
    return {
        "instance": services.instance or "this instance",
        "leads": leads,
        "holder": leadership["holder"] or "nobody yet",
        "epoch": leadership["epoch"],
        "since_s": (now - leadership["since"]).total_seconds(),
        "lease_age_s": lease_age,
        "broker": broker,
        "reconciliation": reconciliation,
        "kill_switch": status["kill_switch"],
        "bars": bar_lights,
        "rolls_due": rolls_due,
        "unacknowledged": unacknowledged,
    }


async def dashboard_context(services: Services) -> dict[str, Any]:
    """Everything the page shows, read in parallel from the facts."""
    pool = services.pool
    now = services.wall_clock()
    today = exchange_date(now)
    # The fingerprint first: a change committed while the page is read is then seen by its event stream.
    fingerprint = await dashboard_store.fingerprint(pool)
    status, positions, rollover, alerts, unacknowledged = await asyncio.gather(
        status_report(services),
        positions_report(services),
        rollover_report(services),
        alert_store.newest_alerts(pool, limit=ALERTS_SHOWN),
        alert_store.unacknowledged_count(pool),
    )
    signals, equity, bars, orders = await asyncio.gather(
        reads.newest_signals(pool, SIGNALS_SHOWN),
        equity_report(services, since=None),
        dashboard_store.last_bar_closes(pool, list(services.config.instruments)),
        dashboard_store.working_orders(pool, ORDERS_SHOWN),
    )
    layers = [_layer_view(p, today) for p in positions]
    portfolio = services.config.portfolio
    drawdown = services.config.drawdown
    return {
        "fingerprint": fingerprint,
        "now": now,
        "status": status,
        "header": _header(
            services,
            status,
            bars,
            {p["instrument"] for p in positions},
            len(rollover["candidates"]),
            unacknowledged,
            now,
        ),
        "heat": [
            {
                "name": "Risk",
                "value": status["risk_pct"],
                "cap": portfolio.max_risk_pct,
                "light": _zone_light(status["risk_zone"]),
                "zone": status["risk_zone"],
            },
            {
                "name": "Volatility",
                "value": status["vol_pct"],
                "cap": portfolio.max_vol_pct,
                "light": _zone_light(status["vol_zone"]),
                "zone": status["vol_zone"],
            },
            {
                "name": "Margin",
                "value": status["margin_utilisation_pct"],
                "cap": portfolio.margin_budget_pct,
                "light": "yellow" if status["margin_warning"] else "green",
                "zone": "warning" if status["margin_warning"] else "green",
            },
        ],
        "drawdown_bands": {
            "reduce": drawdown.reduce_from_pct,
            "halve": drawdown.halve_from_pct,
            "halt": drawdown.halt_from_pct,
        },
        # The band as /api/status names it (the drawdown rules' own words), coloured by how much it restricts.
        "drawdown_light": {
            "light": ("green", "yellow", "orange", "red")[status["drawdown"]["band"]],
            "band": f"{status['drawdown']['band_name']}: {status['drawdown']['rule']}",
        },
        "equity_series": chart_json(equity),
        "instruments": _by_instrument(layers),
        "signals": [_signal_view(row) for row in signals],
        "orders": [{**dict(row), "age_s": (now - row["created_at"]).total_seconds()} for row in orders],
        "alerts": [dict(row) for row in alerts],
        "unacknowledged": unacknowledged,
        "rollover": rollover,
    }


# --- handlers -------------------------------------------------------------------------------------------


async def page(request: web.Request) -> web.Response:
    """The whole page: header, panels and controls."""
    context = await dashboard_context(request.app[SERVICES])
    return aiohttp_jinja2.render_template("dashboard.html", request, context)


async def panels(request: web.Request) -> web.Response:
    """The panels alone, for htmx to swap in when the facts changed."""
    context = await dashboard_context(request.app[SERVICES])
    return aiohttp_jinja2.render_template("panels.html", request, context)


async def events(request: web.Request) -> web.StreamResponse:
    """A server-sent event `changed` whenever the facts differ from the page's (`?since=` its fingerprint).

    Each committed outcome wakes the stream at once (the server notifies `services.feed`); otherwise it looks
    every `[dashboard] poll_s`, which is how a follower, which commits nothing itself, hears of the leader's.
    """
    services = request.app[SERVICES]
    shown = request.query.get("since", "")
    seen = services.feed.generation
    # The first look is taken before the stream answers: once a client has the headers, any later change is
    # one this stream will report.
    current = await _fingerprint(services, shown)
    async with sse_response(request) as stream:
        while stream.is_connected() and not services.feed.closed:
            if current != shown:
                try:
                    await stream.send(current, event="changed")
                except ConnectionResetError:
                    break  # the page was closed
                shown = current
            seen = await services.feed.wait_changed(seen, services.config.dashboard.poll_s)
            current = await _fingerprint(services, shown)
    return stream


async def _fingerprint(services: Services, otherwise: str) -> str:
    try:
        return await dashboard_store.fingerprint(services.pool)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return otherwise  # the database away for a moment: the page keeps what it shows, and asks again
