"""A fake OpenAlgo gateway: a real aiohttp server on a localhost socket that speaks OpenAlgo's REST API.

Request and reply shapes follow OpenAlgo's own documentation (marketcalls/openalgo, docs/api/order-management,
order-information, account-services, market-data) and its request schemas (restx_api/schemas.py,
data_schemas.py): a JSON POST
with "apikey" in the body; "status": "success" with "orderid" or "data", or "status": "error" with "message";
HTTP 403 and "Invalid openalgo apikey" for a wrong key (services/place_order_service.py).

The market is scripted per symbol (LTP, bid, ask). A MARKET order fills at once at the ask (BUY) or bid (SELL);
a LIMIT order fills there when its price crosses them, or at its own price after a set number of modifications,
or part-fills at its own price when placed. Faults make the next call to an endpoint hang, answer HTTP 500, refuse
(400) or drop the connection — before or after doing its work — and every request is recorded, so a test can prove an
order was sent exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson
from aiohttp import web

from basso.timeutil import IST

FaultKind = Literal["hang", "http500", "drop", "refuse"]
Reply = tuple[int, dict[str, Any]]


@dataclass(slots=True, kw_only=True)
class Market:
    """One symbol's scripted market and how the fake treats its orders."""

    ltp: Decimal
    bid: Decimal
    ask: Decimal
    fill_after_modifications: int | None = None  # a LIMIT fills at its own price on this modification
    partial_fill: int = 0  # units a non-crossing LIMIT fills at its own price when placed
    reject: str | None = None  # placeorder answers this error
    reject_market: str | None = None  # placeorder answers this to MARKET orders only (as for illiquid options)


@dataclass(slots=True, kw_only=True)
class FakeOrder:
    """An order in the fake's book."""

    orderid: str
    strategy: str
    symbol: str
    exchange: str
    action: str
    product: str
    pricetype: str
    quantity: int
    price: Decimal
    placed_at: datetime
    status: str = "open"
    filled: int = 0
    filled_value: Decimal = Decimal(0)
    modifications: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """One trade in the fake's trade book."""

    orderid: str
    symbol: str
    exchange: str
    action: str
    product: str
    quantity: int
    price: Decimal


@dataclass(slots=True, kw_only=True)
class Holding:
    """One position book row's running totals."""

    net: int = 0
    bought: int = 0
    bought_value: Decimal = Decimal(0)
    sold: int = 0
    sold_value: Decimal = Decimal(0)

    @property
    def average_price(self) -> Decimal:
        """The average price of the fills on the side now held (0 when flat or held from outside the fake)."""
        units, value = (self.bought, self.bought_value) if self.net > 0 else (self.sold, self.sold_value)
        return (value / units).quantize(Decimal("0.01")) if self.net and units else Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """One request as received, apikey included."""

    endpoint: str
    body: dict[str, Any]
    at: float = 0.0  # time.perf_counter() when it arrived (a benchmark in the same process reads it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """How the next call to an endpoint misbehaves, and whether it does its work first (a lost reply)."""

    kind: FaultKind
    after_processing: bool
    repeat: int = 1  # times the work is done when after_processing (2: a gateway that submitted twice)


class FakeOpenAlgo:
    """The fake gateway. `await start()`, point a client at `url`, `await close()`."""

    def __init__(self, *, api_key: str = "fake-apikey-0123456789") -> None:
        self.api_key = api_key
        self.url = ""
        self.markets: dict[str, Market] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.executions: list[Execution] = []
        # Kept as they are answered, so that serving the day's trade book does not cost the fake more per trade (a
        # benchmark serves it from its own process), and each order's first trade price, which orderstatus reports.
        self._trade_rows: list[dict[str, Any]] = []
        self._first_price: dict[str, Decimal] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self._placed: dict[str, asyncio.Event] = {}
        # Seconds spent answering (reading the request to building the reply; a hung call counts while it hangs): a
        # benchmark that serves the fake from its own process says how much of its time was the fake's.
        self.busy_s = 0.0
        self.requests: list[Recorded] = []
        self.funds = {
            "availablecash": "500000.00",
            "collateral": "0.00",
            "m2mrealized": "0.00",
            "m2munrealized": "0.00",
            "utiliseddebits": "0.00",
        }
        self.holdings: dict[tuple[str, str, str], Holding] = {}  # (symbol, exchange, product)
        self._faults: dict[str, list[Fault]] = {}
        self._ids = itertools.count(1)
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = {
            "placeorder": self._place,
            "modifyorder": self._modify,
            "cancelorder": self._cancel,
            "orderstatus": self._status,
            "orderbook": self._order_book,
            "tradebook": self._trade_book,
            "positionbook": self._position_book,
            "funds": self._funds,
            "quotes": self._quotes,
            "symbol": self._symbol,
        }
        self.candles: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # (symbol, exchange, interval)
        self._routes["history"] = self._history
        # /symbol's answers: symbol → (lot size, tick). A symbol not listed is answered 404.
        self.symbols: dict[str, tuple[int, Decimal]] = {}
        # OpenAlgo's rate limit on order calls: more than this many in one second answers 429 (None: off).
        self.orders_per_second: int | None = None
        self._order_calls: list[float] = []
        self.session_alive = True  # False: the broker's session expired (OpenAlgo's nightly logout)

    async def start(self) -> str:
        """Serve on a free localhost port; the base URL."""
        app = web.Application()
        app.router.add_post("/api/v1/{endpoint}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        """Release any hung request and stop serving."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting -----------------------------------------------------------------------------------------

    def set_market(
        self,
        symbol: str,
        *,
        ltp: str,
        bid: str | None = None,
        ask: str | None = None,
        lot_size: int | None = None,
        tick: str | None = None,
    ) -> Market:
        """Quote `symbol` at `ltp` (bid and ask default to it); with `lot_size` and `tick`, /symbol knows it too (a
        symbol it does not know is answered 404, as by a real server). The Market, to script further."""
        market = Market(ltp=Decimal(ltp), bid=Decimal(bid or ltp), ask=Decimal(ask or ltp))
        self.markets[symbol] = market
        if lot_size is not None and tick is not None:
            self.symbols[symbol] = (lot_size, Decimal(tick))
        return market

    def fail_next(self, endpoint: str, kind: FaultKind, *, after_processing: bool = False, repeat: int = 1) -> None:
        """Make the next call to `endpoint` hang, answer 500, refuse or drop; after doing its work (`repeat` times) if
        `after_processing`."""
        self._faults.setdefault(endpoint, []).append(Fault(kind=kind, after_processing=after_processing, repeat=repeat))

    def set_history(self, symbol: str, exchange: str, interval: str, candles: list[dict[str, Any]]) -> None:
        """The candles `history` serves for `symbol` on `exchange` at `interval` (each with a Unix `timestamp`)."""
        self.candles[(symbol, exchange, interval)] = candles

    def hold(self, symbol: str, quantity: int, *, exchange: str = "NFO", product: str = "NRML") -> None:
        """Start with a position the fake's own fills did not make (e.g. one opened by hand at the broker)."""
        self.holdings.setdefault((symbol, exchange, product), Holding()).net += quantity

    def arrived(self, endpoint: str) -> asyncio.Event:
        """Set once a request to `endpoint` has arrived (a test waits on it rather than polling)."""
        return self._arrived.setdefault(endpoint, asyncio.Event())

    def placed(self, strategy: str) -> asyncio.Event:
        """Set once a placement with `strategy` in its body (our order's tag) has arrived."""
        return self._placed.setdefault(strategy, asyncio.Event())

    def sent(self, endpoint: str) -> list[dict[str, Any]]:
        """The bodies of every request to `endpoint`, in order."""
        return [r.body for r in self.requests if r.endpoint == endpoint]

    def net(self, symbol: str) -> int:
        """The net position in `symbol` (units, short < 0)."""
        return sum(holding.net for (held, _, _), holding in self.holdings.items() if held == symbol)

    # --- HTTP ----------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await self._answer(request)
        finally:
            self.busy_s += time.perf_counter() - started

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"status": "error", "message": "Invalid JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"status": "error", "message": "Invalid JSON"}, status=400)
        self.requests.append(Recorded(endpoint=endpoint, body=body, at=time.perf_counter()))
        self.arrived(endpoint).set()
        if endpoint == "placeorder":
            self.placed(str(body.get("strategy"))).set()
        queued = self._faults.get(endpoint)
        fault = queued.pop(0) if queued else None
        if fault is not None and not fault.after_processing:
            return await self._misbehave(request, fault)
        route = self._routes.get(endpoint)
        if endpoint in ("placeorder", "modifyorder", "cancelorder") and self._rate_limited():
            # As seen on a real server: 429, a bare message, no "status".
            return web.json_response({"message": "10 per 1 second"}, status=429)
        if route is None:
            status, reply = 404, {"status": "error", "message": f"Unknown endpoint {endpoint}"}
        elif body.get("apikey") != self.api_key:
            status, reply = 403, {"status": "error", "message": "Invalid openalgo apikey"}
        elif not self.session_alive and endpoint != "symbol":
            status, reply = 500, {"status": "error", "message": "Failed to fetch data: session expired, login again"}
        else:
            for _ in range(fault.repeat if fault is not None else 1):
                status, reply = route(body)
        if fault is not None:
            return await self._misbehave(request, fault)
        return web.Response(body=orjson.dumps(reply), status=status, content_type="application/json")

    def _rate_limited(self) -> bool:
        if self.orders_per_second is None:
            return False
        now = asyncio.get_running_loop().time()
        self._order_calls = [t for t in self._order_calls if now - t < 1.0]
        if len(self._order_calls) >= self.orders_per_second:
            return True
        self._order_calls.append(now)
        return False

    async def _misbehave(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind == "http500":
            return web.json_response(
                {"status": "error", "message": "An unexpected error occurred in the API endpoint"}, status=500
            )
        if fault.kind == "refuse":  # e.g. a broker that does not list a new order for a moment
            return web.json_response({"status": "error", "message": "Order not found"}, status=400)
        if fault.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        await self._release.wait()  # "hang": until the fake closes; the client has long timed out
        return web.Response(status=204)

    # --- endpoints -----------------------------------------------------------------------------------------

    def _place(self, body: dict[str, Any]) -> Reply:
        missing = [k for k in ("strategy", "exchange", "symbol", "action", "quantity") if k not in body]
        if missing:
            return _error(f"Missing mandatory field(s): {', '.join(missing)}")
        action, pricetype = str(body["action"]).upper(), str(body.get("pricetype", "MARKET"))
        product, quantity = str(body.get("product", "MIS")), _number(body["quantity"])
        price = _number(body.get("price", 0))
        if (
            action not in ("BUY", "SELL")
            or pricetype not in ("MARKET", "LIMIT")
            or product not in ("MIS", "NRML", "CNC")
        ):
            return _error(f"Invalid action, pricetype or product: {action} {pricetype} {product}")
        if quantity is None or quantity <= 0 or quantity != quantity.to_integral_value():
            return _error("Quantity must be a positive number.")
        if price is None or (pricetype == "LIMIT" and price <= 0):
            return _error("Price must be a non-negative number.")
        market = self.markets.get(str(body["symbol"]))
        if market is None:
            return _error(f"Symbol {body['symbol']} not found for exchange {body['exchange']}")
        if market.reject is not None:
            return _error(market.reject)
        if market.reject_market is not None and pricetype == "MARKET":
            return _error(market.reject_market)
        # Order ids of 14 digits, as a real server's.
        order = FakeOrder(
            orderid=f"251230{next(self._ids):08d}",
            strategy=str(body["strategy"]),
            symbol=str(body["symbol"]),
            exchange=str(body["exchange"]),
            action=action,
            product=product,
            pricetype=pricetype,
            quantity=int(quantity),
            price=price,
            placed_at=datetime.now(IST),
        )
        self.orders[order.orderid] = order
        self._work(order, market)
        return 200, {"status": "success", "orderid": order.orderid}

    def _modify(self, body: dict[str, Any]) -> Reply:
        order = self.orders.get(str(body.get("orderid", "")))
        price, quantity = _number(body.get("price")), _number(body.get("quantity"))
        if order is None:
            return _error("Order not found")
        if order.status != "open":
            return _error(f"Order cannot be modified: it is {order.status}")
        if price is None or price <= 0 or quantity is None or quantity <= 0:
            return _error("Price and quantity must be positive numbers.")
        order.price, order.quantity = price, int(quantity)
        order.modifications += 1
        self._work(order, self.markets[order.symbol])
        return 200, {"status": "success", "orderid": order.orderid}

    def _cancel(self, body: dict[str, Any]) -> Reply:
        order = self.orders.get(str(body.get("orderid", "")))
        if order is None:
            return _error("Order not found")
        if order.status in ("complete", "rejected"):
            return _error(f"Order cannot be cancelled: it is {order.status}")
        order.status = "cancelled"
        return 200, {"status": "success", "orderid": order.orderid}

    def _status(self, body: dict[str, Any]) -> Reply:
        order = self.orders.get(str(body.get("orderid", "")))
        if order is None:
            return _error("Order not found", 404)
        # As a real server answers it: `price_type` (not the book's `pricetype`), quantities as numbers, and an
        # average from the first trade only (OpenAlgo's orderstatus service): the trade book has the truth.
        first = self._first_price.get(order.orderid, Decimal(0))
        row = {k: v for k, v in _row(order).items() if k != "pricetype"}
        return 200, {
            "status": "success",
            "data": {
                **row,
                "price_type": order.pricetype,
                "quantity": float(order.quantity),
                "filled_quantity": float(order.filled),
                "pending_quantity": float(order.quantity - order.filled),
                "average_price": _float(first),
            },
        }

    def _symbol(self, body: dict[str, Any]) -> Reply:
        symbol = str(body.get("symbol", ""))
        if symbol not in self.symbols:
            return _error(f"Symbol '{symbol}' not found for exchange '{body.get('exchange')}'", 404)
        lot_size, tick = self.symbols[symbol]
        return 200, {
            "status": "success",
            "data": {
                "symbol": symbol,
                "brsymbol": symbol,
                "exchange": body.get("exchange"),
                "lotsize": lot_size,
                "tick_size": _float(tick),
                "instrumenttype": "FUT",
            },
        }

    def _order_book(self, body: dict[str, Any]) -> Reply:
        rows = [_row(order) for order in self.orders.values()]
        counts = {
            "total_buy_orders": sum(o.action == "BUY" for o in self.orders.values()),
            "total_sell_orders": sum(o.action == "SELL" for o in self.orders.values()),
            "total_completed_orders": sum(o.status == "complete" for o in self.orders.values()),
            "total_open_orders": sum(o.status == "open" for o in self.orders.values()),
            "total_rejected_orders": sum(o.status == "rejected" for o in self.orders.values()),
        }
        return 200, {
            "status": "success",
            "data": {"orders": rows, "statistics": {k: float(v) for k, v in counts.items()}},
        }

    def _trade_book(self, body: dict[str, Any]) -> Reply:
        return 200, {"status": "success", "data": self._trade_rows}

    def _position_book(self, body: dict[str, Any]) -> Reply:
        rows = []
        for (symbol, exchange, product), holding in sorted(self.holdings.items()):
            average = holding.average_price
            ltp = self.markets[symbol].ltp if symbol in self.markets else average
            rows.append(
                {
                    "symbol": symbol,
                    "exchange": exchange,
                    "product": product,
                    "quantity": str(holding.net),
                    "lot_size": 1.0,  # whatever the contract, as a real server reports it
                    "average_price": str(average),
                    "ltp": str(ltp),
                    "pnl": str((ltp - average) * holding.net if holding.net else Decimal("0.00")),
                }
            )
        return 200, {"status": "success", "data": rows}

    def _funds(self, body: dict[str, Any]) -> Reply:
        return 200, {"status": "success", "data": dict(self.funds)}

    def _quotes(self, body: dict[str, Any]) -> Reply:
        market = self.markets.get(str(body.get("symbol", "")))
        if market is None:
            return _error(f"Symbol {body.get('symbol')} not found for exchange {body.get('exchange')}")
        ltp = _float(market.ltp)
        return 200, {
            "status": "success",
            "data": {
                "open": ltp,
                "high": ltp,
                "low": ltp,
                "ltp": ltp,
                "ask": _float(market.ask),
                "bid": _float(market.bid),
                "prev_close": ltp,
                "volume": 1000,
            },
        }

    def _history(self, body: dict[str, Any]) -> Reply:
        # As restx_api/history.py: the schema's errors are 400 with a message per field; the service answers the
        # candles between start_date 00:00 and end_date 23:59:59 IST with an "oi" on each, and an unknown symbol
        # is an error the broker's module raises, answered 500 (services/history_service.py).
        required = ("symbol", "exchange", "interval", "start_date", "end_date")
        missing = {k: ["Missing data for required field."] for k in required if k not in body}
        if missing:
            return 400, {"status": "error", "message": missing}
        try:
            start = datetime.strptime(str(body["start_date"]), "%Y-%m-%d").replace(tzinfo=IST)
            end = datetime.strptime(str(body["end_date"]), "%Y-%m-%d").replace(tzinfo=IST)
        except ValueError:
            return 400, {"status": "error", "message": {"start_date": ["Not a valid date."]}}
        candles = self.candles.get((str(body["symbol"]), str(body["exchange"]), str(body["interval"])))
        if candles is None:
            return _error(f"Symbol {body['symbol']} not found for exchange {body['exchange']}", status=500)
        first, last = start.timestamp(), end.timestamp() + 86399
        return 200, {
            "status": "success",
            "data": [{**c, "oi": c.get("oi", 0)} for c in candles if first <= c["timestamp"] <= last],
        }

    # --- the market ----------------------------------------------------------------------------------------

    def _work(self, order: FakeOrder, market: Market) -> None:
        """Fill what the scripted market would fill of `order` right now."""
        buying, remaining = order.action == "BUY", order.quantity - order.filled
        touch = market.ask if buying else market.bid
        if order.pricetype == "MARKET" or (order.price >= touch if buying else order.price <= touch):
            self._execute(order, remaining, touch)
        elif market.fill_after_modifications is not None and order.modifications >= market.fill_after_modifications:
            self._execute(order, remaining, order.price)
        elif market.partial_fill and order.filled == 0:
            self._execute(order, min(market.partial_fill, remaining), order.price)

    def _execute(self, order: FakeOrder, quantity: int, price: Decimal) -> None:
        order.filled += quantity
        order.filled_value += price * quantity
        if order.filled == order.quantity:
            order.status = "complete"
        execution = Execution(
            orderid=order.orderid,
            symbol=order.symbol,
            exchange=order.exchange,
            action=order.action,
            product=order.product,
            quantity=quantity,
            price=price,
        )
        self.executions.append(execution)
        self._first_price.setdefault(order.orderid, price)
        self._trade_rows.append(
            {
                "action": execution.action,
                "symbol": execution.symbol,
                "exchange": execution.exchange,
                "orderid": execution.orderid,
                "product": execution.product,
                "quantity": float(quantity),
                "average_price": _float(price),
                "timestamp": "13:58:03",
                "trade_value": _float(price * quantity),
            }
        )
        holding = self.holdings.setdefault((order.symbol, order.exchange, order.product), Holding())
        if order.action == "BUY":
            holding.net, holding.bought, holding.bought_value = (
                holding.net + quantity,
                holding.bought + quantity,
                holding.bought_value + price * quantity,
            )
        else:
            holding.net, holding.sold, holding.sold_value = (
                holding.net - quantity,
                holding.sold + quantity,
                holding.sold_value + price * quantity,
            )


def _error(message: str, status: int = 400) -> Reply:
    return status, {"status": "error", "message": message}


def _number(value: Any) -> Decimal | None:
    """A quantity or price as OpenAlgo's schema reads it: a number or a numeric string."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def _float(value: Decimal) -> float:
    return float(value)


def _row(order: FakeOrder) -> dict[str, Any]:
    """An order book row as documented: quantity as a string, prices as numbers, no strategy echoed back."""
    return {
        "action": order.action,
        "symbol": order.symbol,
        "exchange": order.exchange,
        "orderid": order.orderid,
        "product": order.product,
        "quantity": str(order.quantity),
        "price": _float(order.price),
        "pricetype": order.pricetype,
        "order_status": order.status,
        "trigger_price": 0.0,
        "timestamp": order.placed_at.strftime("%d-%b-%Y %H:%M:%S"),
    }
