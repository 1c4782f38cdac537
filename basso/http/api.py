"""The read API: signals with their outcomes and reasons, the ledger, trades and positions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from basso.config import Config
from basso.http.state import SERVICES, Services
from basso.rules.book import Book
from basso.rules.contracts import atm_strike, contract_now, days_to_expiry, expiry_alert_due, is_roll_candidate
from basso.rules.equity import drawdown_allowance, drawdown_band, drawdown_band_name, equity_view
from basso.rules.money import to_money
from basso.rules.portfolio import measure_portfolio
from basso.store import alerts as alert_store
from basso.store import reads
from basso.store.book import load_book
from basso.store.drawdown import last_reset
from basso.store.reconciliation import latest_reconciliation
from basso.timeutil import exchange_date


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money stays exact on the wire: a string, never a float
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError


def json_reply(data: Any, status: int = 200) -> web.Response:
    """A JSON response; Decimal as exact strings, datetimes as ISO-8601."""
    return web.Response(
        status=status,
        content_type="application/json",
        body=orjson.dumps(data, default=_json, option=orjson.OPT_NON_STR_KEYS),
    )


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise web.HTTPBadRequest(
            text='{"status": "error", "field": "limit", "error": "limit must be 1-1000"}',
            content_type="application/json",
        )
    return int(text)


def _signal_row(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "signal_id": row["key"],
        "type": row["kind"],
        "instrument": row["instrument"],
        "layer": row["layer"],
        "timestamp": row["signal_time"],
        "received_at": row["received_at"],
        "status": row["outcome"],
        "reason": row["reason"],
        "decision": orjson.loads(row["decision"]) if row["decision"] else None,
        "processed_at": row["processed_at"],
        "payload": orjson.loads(row["payload"]),
    }


async def signals(request: web.Request) -> web.Response:
    """The newest signals (``?limit=``), each with its outcome, reason and decision."""
    rows = await reads.newest_signals(request.app[SERVICES].pool, _limit(request))
    return json_reply({"signals": [_signal_row(r) for r in rows]})


async def signal(request: web.Request) -> web.Response:
    """One signal by its idempotency key (the `signal_id` the webhook replied with)."""
    pool = request.app[SERVICES].pool
    row = await reads.signal_by_key(pool, request.match_info["signal_id"])
    if row is None:
        return json_reply({"status": "error", "error": "no such signal"}, status=404)
    # Its orders and what became of them: `pending` (committed, not sent), `sent`, `partial`, `filled`,
    # `rejected` or `cancelled` (with the broker's reason), or `unknown` (being resolved at the broker).
    orders = [dict(r) for r in await reads.orders_of_signal(pool, row["id"])]
    return json_reply({**_signal_row(row), "orders": orders})


async def ledger(request: web.Request) -> web.Response:
    """Ledger rows, newest first, and the closed equity they sum to."""
    pool = request.app[SERVICES].pool
    rows = await reads.newest_ledger_rows(pool, _limit(request))
    total = await reads.closed_equity(pool)
    return json_reply({"closed_equity": total, "entries": [dict(r) for r in rows]})


async def trades(request: web.Request) -> web.Response:
    """Closed layers, newest first, with realised P&L."""
    rows = await reads.newest_trades(request.app[SERVICES].pool, _limit(request))
    return json_reply({"trades": [dict(r) for r in rows]})


async def book_today(services: Services) -> Book:
    """The book as the facts say it is, on today's exchange day (the drawdown window's today)."""
    book = await load_book(services.pool, services.config)
    return book.on_day(exchange_date(services.wall_clock()), services.config.drawdown.peak_days)


def money(value: float) -> Decimal:
    """A float amount as the exact decimal rupees and paise it is shown as (a string on the wire)."""
    return to_money(round(value, 2))


async def _drawdown(services: Services, book: Book) -> dict[str, Any]:
    """The drawdown, its band, the peak it is measured from, the window, the last reset and how to reset."""
    config = services.config
    pct = book.drawdown_pct(config)
    band = drawdown_band(pct, config.drawdown)
    reset = await last_reset(services.pool)
    return {
        "pct": round(pct, 4),
        "band": band,
        "band_name": drawdown_band_name(band, config.drawdown),
        "rule": drawdown_allowance(pct, config.drawdown).reason,
        "peak": money(max(book.equity_peak, book.sizing_equity(config))),
        "peak_days": config.drawdown.peak_days,
        "last_reset": None if reset is None else {"at": reset["at"], "by": reset["by"], "reason": reset["reason"]},
        "how_to_reset": 'basso drawdown reset --reason "…" (or POST /api/drawdown/reset with the admin token)',
    }


async def status(request: web.Request) -> web.Response:
    """Equity in every mode, risk/vol/margin and their zones, drawdown, leadership and the kill switch. Every
    amount of money is an exact decimal string."""
    return json_reply(await status_report(request.app[SERVICES]))


async def status_report(services: Services) -> dict[str, Any]:
    """What /api/status answers; the dashboard shows the same numbers (one computation for both)."""
    config = services.config
    book = await book_today(services)
    fence = await reads.fence_holder(services.pool)
    measures = measure_portfolio(book.snapshot(config), config.portfolio)
    view = equity_view(
        closed=float(book.closed_equity),
        unrealised=book.unrealised(),
        high_water=float(book.high_water),
        blended_weight=config.portfolio.blended_unrealised_weight,
    )
    drawdown = await _drawdown(services, book)
    return {
        "equity": {
            "closed": book.closed_equity,
            "open": money(view.open),
            "blended": money(view.blended),
            "high_water": book.high_water,
            "sizing_mode": config.portfolio.equity_mode,
            "sizing": money(view.in_mode(config.portfolio.equity_mode)),
        },
        "unrealised_pnl": money(view.unrealised),
        "risk_pct": round(measures.risk_pct, 4),
        "vol_pct": round(measures.vol_pct, 4),
        "margin_used": money(measures.margin_used),
        "margin_utilisation_pct": round(measures.margin_utilisation_pct, 4),
        "risk_zone": measures.risk_zone.value,
        "vol_zone": measures.vol_zone.value,
        "margin_warning": measures.margin_warning,
        "drawdown_pct": drawdown["pct"],
        "drawdown": drawdown,
        "open_layers": len(book.layers),
        "leader": services.is_leader(),
        # Who holds the fence, as PostgreSQL says: on a follower, the instance that trades (and since when).
        "leadership": {"epoch": fence["epoch"], "holder": fence["holder"], "since": fence["changed_at"]},
        "kill_switch": book.kill_switch,
        # Orders not yet done, by state (docs/architecture.md "Exactly once"): none once every fill is in.
        "working_orders": await reads.order_counts(services.pool),
        "broker": {
            "kind": config.broker.kind,
            "reconciliation": _reconciliation(await latest_reconciliation(services.pool)),
        },
        "alerts": await _expiry_alerts(services.pool, config, exchange_date(services.wall_clock())),
    }


def _reconciliation(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "at": row["at"],
        "matched": row["matched"],
        "breaks": orjson.loads(row["breaks"]),
        "error": row["error"] or None,
    }


async def reconciliation(request: web.Request) -> web.Response:
    """The newest reconciliation with the broker: when, whether it matched, and every break (docs/rules.md §8); null
    before the first (and always with the paper broker, which holds nothing of its own)."""
    row = await latest_reconciliation(request.app[SERVICES].pool)
    return json_reply({"reconciliation": _reconciliation(row)})


async def _expiry_alerts(pool: asyncpg.Pool, config: Config, today: date) -> list[dict[str, Any]]:
    """Open layers inside their roll window (warning) or fewer than `expiry_alert_days` from expiry (critical,
    docs/rules.md §7). Rolling is not automated yet, so these say what the trader has to do by hand."""
    alerts = []
    for row in await reads.dated_layers(pool):
        days = days_to_expiry(row["expiry"], today)
        where = {
            "instrument": row["instrument"],
            "layer": f"Long_{row['layer']}",
            "contract": row["contract"],
            "expiry": row["expiry"],
            "days_to_expiry": days,
        }
        if expiry_alert_due(row["expiry"], today, rolled=False, alert_days=config.portfolio.expiry_alert_days):
            alerts.append(
                {
                    **where,
                    "level": "critical",
                    "message": f"{days} day(s) to expiry and not rolled: roll or close it now",
                }
            )
        elif is_roll_candidate(config.instruments[row["instrument"]], row["expiry"], today):
            alerts.append(
                {
                    **where,
                    "level": "warning",
                    "message": "inside the roll window: roll it by hand (automatic rolls are not built yet)",
                }
            )
    return alerts


async def rollover(request: web.Request) -> web.Response:
    """The roll candidates today (docs/rules.md §7): open layers inside their roll window, each with the contract the
    entry rule picks today (the one it rolls into) and, for a synthetic, the ATM strike at the latest mark."""
    return json_reply(await rollover_report(request.app[SERVICES]))


async def rollover_report(services: Services) -> dict[str, Any]:
    """What /api/rollover answers (and the dashboard's rollover panel)."""
    config = services.config
    now = services.wall_clock()
    today = exchange_date(now)
    candidates = []
    for row in await reads.dated_layers(services.pool):
        instrument = config.instruments[row["instrument"]]
        if not is_roll_candidate(instrument, row["expiry"], today):
            continue
        target = contract_now(config, instrument.name, now)
        mark = float(row["mark"]) if row["mark"] is not None else None
        strike = (
            atm_strike(mark, instrument.strike_step)
            if instrument.strike_step is not None and mark is not None
            else None
        )
        candidates.append(
            {
                "instrument": instrument.name,
                "layer": f"Long_{row['layer']}",
                "lots": row["lots"],
                "contract": row["contract"],
                "expiry": row["expiry"],
                "days_to_expiry": days_to_expiry(row["expiry"], today),
                "roll_to": target.future_symbol,
                "roll_to_expiry": target.expiry,
                "strike": strike,
            }
        )
    return {"as_of": today, "candidates": candidates}


async def positions(request: web.Request) -> web.Response:
    """Open layers with their stops and unrealised P&L at the latest mark."""
    return json_reply({"positions": await positions_report(request.app[SERVICES])})


async def positions_report(services: Services) -> list[dict[str, Any]]:
    """What /api/positions answers (and the dashboard's open layers)."""
    rows = await reads.open_layers_with_marks(services.pool)
    result = []
    for row in rows:
        mark = row["mark"] if row["mark"] is not None else row["entry_price"]
        unrealised = to_money((mark - row["entry_price"]) * row["lots"] * row["point_value"])
        result.append(
            {
                "id": row["id"],
                "instrument": row["instrument"],
                "layer": f"Long_{row['layer']}",
                "status": row["status"],
                "lots": row["lots"],
                "entry_price": row["entry_price"],
                "initial_stop": row["initial_stop"],
                "current_stop": row["current_stop"],
                "highest_close": row["highest_close"],
                "mark": mark,
                "unrealised_pnl": unrealised,
                "contract": row["contract"],
                "expiry": row["expiry"],
                "opened_at": row["opened_at"],
            }
        )
    return result


async def alerts(request: web.Request) -> web.Response:
    """The newest alerts (``?limit=``; ``?open=true`` for the unacknowledged only) and how many are open."""
    pool = request.app[SERVICES].pool
    open_only = request.query.get("open", "false")
    if open_only not in ("true", "false"):
        raise web.HTTPBadRequest(
            text='{"status": "error", "field": "open", "error": "open must be true or false"}',
            content_type="application/json",
        )
    rows = await alert_store.newest_alerts(pool, limit=_limit(request), unacknowledged_only=open_only == "true")
    return json_reply(
        {
            "unacknowledged": await alert_store.unacknowledged_count(pool),
            "alerts": [{**dict(r), "detail": orjson.loads(r["detail"])} for r in rows],
        }
    )
