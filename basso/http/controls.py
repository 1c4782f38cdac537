"""The operator's write endpoints (an admin token, `Authorization: Bearer …`):

* ``POST /api/kill-switch`` ``{"on": true, "reason": "…"}``: stop (or allow again) every new entry and
  pyramid; exits, stops and peel-offs are never blocked. Any instance takes it.
* ``POST /api/flatten`` ``{"confirm": true, "reason": "…"}``: close everything — one EXIT ALL per instrument
  with open layers, at its latest mark, stored in the inbox and processed in order like any signal.
* ``POST /api/alerts/ack`` ``{"id": 12}``: acknowledge an alert (any instance).
* ``POST /api/capital`` ``{"kind": "deposit" | "withdrawal", "amount": "250000.00", "note": "…"}``: a
  signed ledger row, written by the leader under its fence (a follower answers 503).
  The drawdown peak moves with it (docs/rules.md §2): a deposit adds to it, a withdrawal scales it.
* ``POST /api/drawdown/reset`` ``{"reason": "…"}``: reset the drawdown peak to today's equity (a reason is
  required; audited, shown in /api/status). Any instance takes it.
* ``POST /api/orders/resolve`` ``{"client_id": "…", "filled_lots": 1, "price": "78502.00", "reason": "…"}``: how
  an `unknown` order ended, as the trader found it at the broker (the leader writes it; a follower answers 503).

Bad bodies get 400 naming the field, a wrong or missing token 401 with no detail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from basso.enums import LedgerKind, OrderStatus
from basso.http.api import book_today, json_reply
from basso.http.state import SERVICES, Services
from basso.http.webhook import client_address
from basso.rules.equity import drawdown_band_alert
from basso.rules.money import commission, ledger_amount, to_money
from basso.rules.rollover import roll_candidates
from basso.rules.signals import SignalError, decode_body, secret_matches
from basso.store.alerts import acknowledge
from basso.store.capital import PeakMove, move_capital
from basso.store.controls import set_kill_switch, store_flatten
from basso.store.drawdown import BookMoved, reset_peak
from basso.store.fence import FenceLost
from basso.store.orders import NotUnknown, resolve_by_hand, working_orders
from basso.store.rolls import held_contracts
from basso.timeutil import exchange_date

MAX_BODY_BYTES = 4096
# A peak move is computed from the book and committed only if the facts have not moved meanwhile; under a busy
# pipeline it is computed again, this many times at most.
PEAK_MOVE_ATTEMPTS = 5
MAX_TEXT = 200
_TOO_MUCH = Decimal("1e15")
_KINDS = {"deposit": LedgerKind.DEPOSIT, "withdrawal": LedgerKind.WITHDRAWAL}


def _error(field: str, error: str, status: int = 400) -> web.Response:
    return json_reply({"status": "error", "field": field, "error": error}, status=status)


def _authorised(request: web.Request, services: Services) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secret_matches(token.strip(), services.admin_token)


async def _body(request: web.Request) -> dict[str, Any]:
    return decode_body(await request.content.read(MAX_BODY_BYTES + 1), MAX_BODY_BYTES)


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field, "")
    if not isinstance(value, str):
        raise SignalError(field, f"{field} must be a string")
    if len(value) > MAX_TEXT:
        raise SignalError(field, f"{field} must be at most {MAX_TEXT} characters")
    return value


Handler = Callable[[web.Request, Services, dict[str, Any]], Awaitable[web.Response]]


def admin_endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Check the admin token and decode the JSON body before `handler`; a SignalError it raises while reading
    the body is a 400 naming the field."""

    async def endpoint(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        if not _authorised(request, services):
            return json_reply({"status": "unauthorised"}, status=401)
        try:
            return await handler(request, services, await _body(request))
        except SignalError as exc:
            return _error(exc.field, exc.message)

    return endpoint


@admin_endpoint
async def kill_switch(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Set the kill switch; the reply says whether it changed."""
    on = body.get("on")
    if not isinstance(on, bool):
        raise SignalError("on", "on must be true or false")
    reason = _text(body, "reason")
    async with services.pool.acquire() as conn:
        changed = await set_kill_switch(conn, on=on, actor=client_address(request), reason=reason)
    return json_reply({"kill_switch": on, "changed": changed})


@admin_endpoint
async def flatten(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Store the signals that close every open layer; the reply names them."""
    if body.get("confirm") is not True:
        raise SignalError("confirm", 'flatten closes every open position: send "confirm": true')
    reason = _text(body, "reason")
    async with services.pool.acquire() as conn:
        keys = await store_flatten(conn, at=services.wall_clock(), actor=client_address(request), reason=reason)
    services.wake_processor()
    return json_reply({"status": "accepted" if keys else "nothing open", "signals": keys})


@admin_endpoint
async def capital(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Deposit or withdraw capital; the reply has the closed equity after it."""
    kind = _KINDS.get(str(body.get("kind")))
    if kind is None:
        raise SignalError("kind", 'kind must be "deposit" or "withdrawal"')
    amount = _amount(body.get("amount"))
    note = _text(body, "note") or kind.value
    epoch = services.epoch()
    if epoch is None:
        return _error("instance", "this instance does not lead: send it to the leader", status=503)
    config = services.config
    for _ in range(PEAK_MOVE_ATTEMPTS):
        book = await book_today(services)
        after, (factor, add) = book.with_capital(ledger_amount(kind, amount), config)
        band = drawdown_band_alert(
            before=book.drawdown_pct(config),
            after=after.drawdown_pct(config),
            peak=after.equity_peak,
            rules=config.drawdown,
        )
        peak = PeakMove(factor=factor, add=add, version=book.version, alerts=() if band is None else (band,))
        try:
            async with services.pool.acquire() as conn:
                closed = await move_capital(
                    conn, epoch=epoch, kind=kind, amount=amount, at=services.wall_clock(), note=note, peak=peak
                )
        except FenceLost:
            return _error("instance", "this instance no longer leads: send it to the leader", status=503)
        except BookMoved:
            continue
        except ValueError as exc:  # a withdrawal beyond the closed equity
            return _error("amount", str(exc))
        return json_reply(
            {
                "kind": kind.value,
                "amount": amount,
                "closed_equity": closed,
                "drawdown_peak": to_money(round(after.equity_peak, 2)),
            }
        )
    return _error("book", "the portfolio kept changing while the peak was moved; send it again", status=503)


@admin_endpoint
async def drawdown_reset(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Reset the drawdown peak to today's sizing equity, so a drawdown band can be left with nothing open."""
    reason = _text(body, "reason").strip()
    if not reason:
        raise SignalError("reason", "reason is required: say why the drawdown peak is reset (it is audited)")
    config = services.config
    for _ in range(PEAK_MOVE_ATTEMPTS):
        book = await book_today(services)
        after = book.with_peak_reset(config)
        band = drawdown_band_alert(
            before=book.drawdown_pct(config),
            after=after.drawdown_pct(config),
            peak=after.equity_peak,
            rules=config.drawdown,
        )
        now = services.wall_clock()
        try:
            async with services.pool.acquire() as conn:
                await reset_peak(
                    conn,
                    version=book.version,
                    day=exchange_date(now),
                    equity=after.equity_peak,
                    at=now,
                    actor=client_address(request),
                    reason=reason,
                    alerts=() if band is None else (band,),
                )
        except BookMoved:
            continue
        return json_reply(
            {
                "reset": True,
                "peak_before": to_money(round(book.equity_peak, 2)),
                "peak": to_money(round(after.equity_peak, 2)),
                "drawdown_pct_before": round(book.drawdown_pct(config), 4),
                "at": now,
                "reason": reason,
            }
        )
    return _error("book", "the portfolio kept changing while the peak was reset; send it again", status=503)


@admin_endpoint
async def rollover(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Scan for rolls now (docs/rules.md §7); with `"dry_run": true`, only list what a scan would do."""
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise SignalError("dry_run", "dry_run must be true or false")
    candidates = [
        {
            "instrument": c.instrument,
            "contract": c.contract,
            "expiry": c.expiry,
            "urgency": c.urgency.value,
            "action": c.action,
        }
        for c in roll_candidates(
            services.config,
            [(h.instrument, h.contract, h.expiry) for h in await held_contracts(services.pool)],
            services.wall_clock(),
        )
    ]
    if dry_run:
        return json_reply({"status": "dry run", "candidates": candidates})
    if services.epoch() is None:
        return _error("instance", "this instance does not lead: send it to the leader", status=503)
    services.scan_rollover()
    return json_reply({"status": "accepted", "candidates": candidates})


@admin_endpoint
async def acknowledge_alert(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Acknowledge one alert; the reply says whether it was still open."""
    alert_id = body.get("id")
    if isinstance(alert_id, bool) or not isinstance(alert_id, int) or not 0 < alert_id < 2**63:
        raise SignalError("id", "id must be the alert's id, a whole number")
    changed = await acknowledge(services.pool, alert_id, at=services.wall_clock(), by=client_address(request))
    if changed is None:
        return _error("id", f"no alert {alert_id}", status=404)
    return json_reply({"id": alert_id, "acknowledged": True, "changed": changed})


@admin_endpoint
async def resolve_order(request: web.Request, services: Services, body: dict[str, Any]) -> web.Response:
    """Book how an `unknown` order ended (docs/rules.md §8): what filled of it, at what average price."""
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise SignalError("client_id", "client_id must be the order's client id (GET /api/status lists them)")
    filled = body.get("filled_lots")
    if isinstance(filled, bool) or not isinstance(filled, int) or filled < 0:
        raise SignalError("filled_lots", "filled_lots must be the lots that filled in all, a whole number ≥ 0")
    given = None if body.get("price") is None else _price(body["price"])
    price = None if given is None else float(given)
    reason = _text(body, "reason").strip()
    if not reason:
        raise SignalError("reason", "reason is required: say what the broker showed (it is audited)")
    epoch = services.epoch()
    if epoch is None:
        return _error("instance", "this instance does not lead: send it to the leader", status=503)
    order = next((w for w in await working_orders(services.pool) if w.ticket.client_id == client_id), None)
    if order is None or order.status is not OrderStatus.UNKNOWN:
        found = "not an order" if order is None else f"{order.status.value}: Basso is still working it"
        return _error("client_id", f"order {client_id} is {found}; only an unknown order is resolved by hand", 409)
    ticket = order.ticket
    if filled > order.filled_lots and price is None:
        raise SignalError("price", "price is required: the average price of what filled")
    cost = (
        commission(price, filled - order.filled_lots, ticket.point_value, services.config.paper.commission_pct)
        if price is not None and filled > order.filled_lots
        else Decimal(0)
    )
    note = f"resolved by hand ({client_address(request)}): {reason}"
    try:
        async with services.pool.acquire() as conn:
            await resolve_by_hand(
                conn,
                epoch=epoch,
                client_id=client_id,
                filled_lots=filled,
                price=price,
                commission=cost,
                at=services.wall_clock(),
                note=note,
            )
    except FenceLost:
        return _error("instance", "this instance no longer leads: send it to the leader", status=503)
    except NotUnknown as exc:
        return _error("client_id", f"{exc}; only an unknown order is resolved by hand", 409)
    except ValueError as exc:
        return _error("filled_lots", str(exc))
    services.wake_processor()
    return json_reply(
        {
            "client_id": client_id,
            "instrument": ticket.instrument,
            "layer": ticket.layer,
            "side": ticket.side.value,
            "lots": ticket.lots,
            "filled_lots": filled,
            "price": given,
            "status": OrderStatus.FILLED.value if filled == ticket.lots else OrderStatus.CANCELLED.value,
        }
    )


def _price(value: object) -> Decimal:
    """A price: a positive decimal string or JSON number."""
    return _positive("price", value, example="78502.00")


def _positive(field: str, value: object, *, example: str) -> Decimal:
    """`value` as a positive Decimal below ₹10^15, given as a decimal string or a JSON number; a 400 naming `field`
    if not."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SignalError(field, f'{field} must be a decimal string like "{example}" or a number')
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SignalError(field, f"{field} must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise SignalError(field, f"{field} must be greater than 0, got {value!r}")
    if number >= _TOO_MUCH:
        raise SignalError(field, f"{field} must be below ₹10^15, got {value!r}")
    return number


def _amount(value: object) -> Decimal:
    """A positive amount in rupees with at most two decimals, given as a decimal string or a JSON number."""
    amount = _positive("amount", value, example="250000.00")
    if amount != amount.quantize(Decimal("0.01")):
        raise SignalError("amount", f"amount has more than two decimals (paise): {value!r}")
    return amount
