"""The OpenAlgo broker (docs/rules.md §8): JSON POSTs with the `apikey` in the body to a self-hosted OpenAlgo gateway.

Three promises shape this module:

* **Chase, then take.** A leg is worked as a LIMIT at LTP ± a buffer, stepped a few times towards the market,
  then cancelled and completed with a MARKET order for whatever did not fill (a partial fill is never bought
  twice: the trade book says how much the cancelled limit filled).
* **Never send an order twice.** A placement whose reply is lost (timeout, dropped connection, HTTP 5xx) may or
  may not have reached the exchange. It is resolved by reading the order book, never by sending it again; if
  the book cannot say, `OrderOutcomeUnknown` goes to the caller, who reconciles.
* **Deterministic client ids.** Every order's id is a hash of the signal (or roll) id, the action and the leg.
  It travels in OpenAlgo's `strategy` field: the only free-text field `placeorder` accepts, and OpenAlgo keeps
  it with the order in its own order log. OpenAlgo's order book does not echo it back (its documented rows
  carry orderid, symbol, exchange, action, quantity, price, pricetype, product, order_status, timestamp; the
  Zerodha mapping sends the broker the fixed tag "openalgo"), so a lost order is found by what the book does
  carry: the same symbol, exchange, action, price type and quantity, among orders that were not in the book
  before it was sent (a read of at most a second before, and every order placed since: `BrokerBooks`). Two such
  candidates are refused as ambiguous rather than guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal, Protocol, Self

import aiohttp
import orjson

from basso.config import Instrument
from basso.rules.contracts import option_symbol
from basso.rules.money import to_decimal

__all__ = [
    "BrokerBooks",
    "BrokerError",
    "BrokerPosition",
    "BrokerRefused",
    "BrokerUnreachable",
    "ChasePolicy",
    "Funds",
    "LegFill",
    "LegIncomplete",
    "LegOrder",
    "LegWithdrawn",
    "OpenAlgoBroker",
    "OpenAlgoClient",
    "OrderOutcomeUnknown",
    "OrderState",
    "PositionDifference",
    "Quote",
    "SymbolInfo",
    "SyntheticEntry",
    "SyntheticOrder",
    "Trade",
    "client_order_id",
    "limit_price",
    "reconcile",
    "synthetic_order",
    "tick_round",
]

Action = Literal["BUY", "SELL"]
PriceType = Literal["LIMIT", "MARKET"]
Sleep = Callable[[float], Awaitable[None]]
Withdrawn = Callable[[], Awaitable[bool]]


async def _never_withdrawn() -> bool:
    return False


_ORDER_CALLS = frozenset({"placeorder", "modifyorder", "cancelorder"})
# OpenAlgo's order_status values (lower case); "open" and "pending" are still working.
_COMPLETE, _REJECTED, _CANCELLED = "complete", "rejected", "cancelled"
# A combined average (limit part + market part) is not on the tick; four places keep it exact to 1/100 paisa.
_AVERAGE_PLACES = Decimal("0.0001")


class BrokerError(Exception):
    """An OpenAlgo call failed; the message names the endpoint and gives the broker's own words."""

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(f"OpenAlgo {endpoint}: {message}")
        self.endpoint = endpoint
        self.broker_message = message


class BrokerRefused(BrokerError):
    """The broker answered and said no ("status": "error", HTTP 4xx): the request did nothing."""


class BrokerUnreachable(BrokerError):
    """No usable answer (timeout, dropped connection, HTTP 5xx): the request may or may not have taken effect."""


class OrderOutcomeUnknown(BrokerError):
    """An order may be working or filled at the broker and the broker could not say which. It was not re-sent."""


class _RateLimited(BrokerError):
    """HTTP 429: the gateway did nothing; the same request is sent again after a wait."""


class LegWithdrawn(BrokerError):
    """A working order was cancelled before it filled completely because what it was for is gone (the layer's exit
    came first): `part` is what it filled, if anything. The rest is not taken at MARKET."""

    def __init__(self, endpoint: str, message: str, *, part: LegFill | None) -> None:
        super().__init__(endpoint, message)
        self.part = part


class LegIncomplete(BrokerError):
    """Part of a leg filled and the rest could not be bought or sold: `part` is what the broker holds."""

    def __init__(self, endpoint: str, message: str, *, part: LegFill) -> None:
        super().__init__(endpoint, message)
        self.part = part


# --- values ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """The market in one symbol."""

    symbol: str
    ltp: Decimal
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolInfo:
    """A contract as the broker knows it: units per lot and the price tick."""

    symbol: str
    exchange: str
    lot_size: int
    tick: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderState:
    """One order as the broker reports it (order book row or order status)."""

    orderid: str
    symbol: str
    exchange: str
    action: str
    pricetype: str
    quantity: int
    status: str
    average_price: Decimal  # 0 where the broker does not report one (order book rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """One execution from the trade book."""

    orderid: str
    symbol: str
    action: str
    quantity: int
    average_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerPosition:
    """One position book row: net quantity in units, signed (short < 0)."""

    symbol: str
    exchange: str
    product: str
    quantity: int
    average_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Funds:
    """The account's money as OpenAlgo reports it (₹)."""

    available_cash: Decimal
    collateral: Decimal
    utilised: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class ChasePolicy:
    """How a leg is worked: LIMIT at LTP ± buffer, stepped `modifications` times, then MARKET."""

    buffer: Decimal  # price points beyond the LTP for the first limit
    step: Decimal  # price points each modification moves the limit towards the market
    modifications: int = 3
    interval_s: float = 2.0  # wait before each status check
    market_polls: int = 5  # status checks of the MARKET order before its outcome counts as unknown
    resolve_checks: int = 3  # order book reads before a lost placement counts as unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class LegOrder:
    """One leg to trade: what, how much (units, not lots) and the client id that names it."""

    client_id: str
    symbol: str
    exchange: str
    action: Action
    quantity: int
    tick: Decimal
    product: str = "NRML"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegFill:
    """A leg done: its quantity at its average price, and every broker order that filled part of it."""

    client_id: str
    symbol: str
    action: Action
    quantity: int
    average_price: Decimal
    broker_order_ids: tuple[str, ...]

    @property
    def broker_order_id(self) -> str:
        """The order that completed the leg (the MARKET order if the limit was not enough)."""
        return self.broker_order_ids[-1]


def client_order_id(origin: str, action: str, leg: str) -> str:
    """The stable id of the order for `leg` of `action` on signal or roll `origin`: the same inputs, the same id,
    so a restarted instance names (and finds) the very order the crashed one sent."""
    digest = hashlib.sha256("\x1f".join((origin, action, leg)).encode()).hexdigest()
    return f"basso-{digest[:16]}"


def tick_round(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """`price` on the tick grid, rounded up (a BUY limit is never below the price asked for) or down (a SELL)."""
    ticks = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return max(ticks, Decimal(1)) * tick  # a limit below one tick is no price at all


def limit_price(ltp: Decimal, buffer: Decimal, tick: Decimal, action: Action) -> Decimal:
    """The first limit: BUY at LTP + buffer, SELL at LTP − buffer, rounded to the tick towards the aggressive side."""
    buying = action == "BUY"
    return tick_round(ltp + buffer if buying else ltp - buffer, tick, up=buying)


# --- HTTP --------------------------------------------------------------------------------------------------


def _dec(row: Mapping[str, Any], key: str) -> Decimal:
    """A number OpenAlgo sends as a JSON number or a string ("83.74"); a garbled one is no usable answer."""
    value = row.get(key)
    if value in (None, ""):
        return Decimal(0)
    try:
        return to_decimal(value if isinstance(value, (int, float)) else str(value))
    except (ArithmeticError, ValueError, TypeError):
        raise BrokerUnreachable("reply", f"{key} = {value!r} is not a number") from None


def _int(row: Mapping[str, Any], key: str) -> int:
    return int(_dec(row, key))


def _json(body: bytes) -> Any:
    """A reply's JSON (None if it is not JSON). orjson reads a whole trade book several times faster than the
    standard library; what it refuses (an integer wider than 64 bits, NaN) is read by the standard library."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except ValueError:
            return None


def _trade(row: Mapping[str, Any]) -> Trade:
    return Trade(
        orderid=str(row.get("orderid", "")),
        symbol=str(row.get("symbol", "")),
        action=str(row.get("action", "")).upper(),
        quantity=_int(row, "quantity"),
        average_price=_dec(row, "average_price"),
    )


def _order(row: Mapping[str, Any]) -> OrderState:
    return OrderState(
        orderid=str(row.get("orderid", "")),
        symbol=str(row.get("symbol", "")),
        exchange=str(row.get("exchange", "")),
        action=str(row.get("action", "")).upper(),
        pricetype=str(row.get("pricetype", "")).upper(),
        quantity=_int(row, "quantity"),
        status=str(row.get("order_status", "")).lower(),
        average_price=_dec(row, "average_price"),
    )


class OpenAlgoClient:
    """The gateway's REST endpoints, one method each; every failure is a `BrokerError` naming the endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout_s: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        busy_wait_s: float = 0.1,
        busy_retries: int = 50,
        orders_per_second: float | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep
        self._busy_wait_s = busy_wait_s  # after a 429 (OpenAlgo allows 10 orders a second): back-pressure, no failure
        self._busy_retries = busy_retries
        # Order calls (place, modify, cancel) are paced to OpenAlgo's limit, so a burst of orders waits here
        # rather than being answered 429 (which is retried all the same).
        self._order_gap_s = 1.0 / orders_per_second if orders_per_second else 0.0
        self._next_order_at = 0.0

    def __repr__(self) -> str:  # never the key: a repr ends up in logs
        return f"OpenAlgoClient({self._base!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, endpoint: str, **fields: str) -> dict[str, Any]:
        """POST `fields` and the apikey to /api/v1/`endpoint`; the reply if its status is "success". A 429 (rate
        limited: the request did nothing) waits and sends the very same request again."""
        for _ in range(self._busy_retries):
            if self._order_gap_s and endpoint in _ORDER_CALLS:
                await self._pace()
            try:
                return await self._call_once(endpoint, fields)
            except _RateLimited:
                await self._sleep(self._busy_wait_s)
        raise BrokerUnreachable(endpoint, f"still rate limited after {self._busy_retries} waits")

    async def _pace(self) -> None:
        now = asyncio.get_running_loop().time()
        at = max(now, self._next_order_at)
        self._next_order_at = at + self._order_gap_s
        if at > now:
            await self._sleep(at - now)

    async def _call_once(self, endpoint: str, fields: Mapping[str, str]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                f"{self._base}/api/v1/{endpoint}", json={"apikey": self._api_key, **fields}
            ) as response:
                http_status = response.status
                reply = _json(await response.read())
        except TimeoutError as exc:
            raise BrokerUnreachable(endpoint, f"no reply within {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise BrokerUnreachable(endpoint, f"connection failed: {exc}") from exc
        message = str(reply.get("message", "no message")) if isinstance(reply, dict) else "reply is not JSON"
        if http_status == 429:
            raise _RateLimited(endpoint, message)
        if http_status >= 500 or not isinstance(reply, dict):
            raise BrokerUnreachable(endpoint, f"HTTP {http_status}: {message}")
        if http_status >= 400 or reply.get("status") != "success":
            raise BrokerRefused(endpoint, f"HTTP {http_status}: {message}")
        return reply

    async def symbol(self, symbol: str, exchange: str) -> SymbolInfo:
        """The contract as the broker's master contract has it (/symbol): lot size and tick. BrokerRefused (HTTP
        404) if the broker does not know the symbol."""
        data = (await self.call("symbol", symbol=symbol, exchange=exchange)).get("data") or {}
        return SymbolInfo(
            symbol=symbol, exchange=exchange, lot_size=_int(data, "lotsize"), tick=_dec(data, "tick_size")
        )

    async def quote(self, symbol: str, exchange: str) -> Quote:
        """LTP, bid and ask (/quotes)."""
        data = (await self.call("quotes", symbol=symbol, exchange=exchange)).get("data") or {}
        return Quote(symbol=symbol, ltp=_dec(data, "ltp"), bid=_dec(data, "bid"), ask=_dec(data, "ask"))

    async def place(
        self, leg: LegOrder, *, strategy: str, pricetype: PriceType, quantity: int, price: Decimal = Decimal(0)
    ) -> str:
        """The broker's order id for a new order (/placeorder); quantity and price go as strings."""
        reply = await self.call(
            "placeorder",
            strategy=strategy,
            symbol=leg.symbol,
            exchange=leg.exchange,
            action=leg.action,
            product=leg.product,
            pricetype=pricetype,
            quantity=str(quantity),
            price=str(price),
            trigger_price="0",
            disclosed_quantity="0",
        )
        return str(reply.get("orderid", ""))

    async def modify(self, orderid: str, leg: LegOrder, *, strategy: str, price: Decimal) -> None:
        """Move a working LIMIT order to `price` (/modifyorder)."""
        await self.call(
            "modifyorder",
            orderid=orderid,
            strategy=strategy,
            symbol=leg.symbol,
            exchange=leg.exchange,
            action=leg.action,
            product=leg.product,
            pricetype="LIMIT",
            quantity=str(leg.quantity),
            price=str(price),
            trigger_price="0",
            disclosed_quantity="0",
        )

    async def cancel(self, orderid: str, *, strategy: str) -> None:
        """Cancel a working order (/cancelorder)."""
        await self.call("cancelorder", orderid=orderid, strategy=strategy)

    async def order_status(self, orderid: str, *, strategy: str) -> OrderState:
        """One order's state and average price (/orderstatus)."""
        return _order((await self.call("orderstatus", orderid=orderid, strategy=strategy)).get("data") or {})

    async def order_book(self) -> list[OrderState]:
        """Today's orders (/orderbook)."""
        data = (await self.call("orderbook")).get("data") or {}
        return [_order(row) for row in data.get("orders") or []]

    async def trade_book(self) -> list[Trade]:
        """Today's executions (/tradebook)."""
        return [_trade(row) for row in await self.trade_rows()]

    async def trade_rows(self) -> list[Mapping[str, Any]]:
        """Today's executions (/tradebook) as the broker sent them, unread: a caller that wants a few orders' trades
        reads only theirs."""
        rows = (await self.call("tradebook")).get("data") or []
        if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
            raise BrokerUnreachable("tradebook", "the trade book is not a list of trades")  # a garbled answer
        return rows

    async def positions(self) -> list[BrokerPosition]:
        """Net positions, closed ones included at quantity 0 (/positionbook)."""
        return [
            BrokerPosition(
                symbol=str(row.get("symbol", "")),
                exchange=str(row.get("exchange", "")),
                product=str(row.get("product", "")),
                quantity=_int(row, "quantity"),
                average_price=_dec(row, "average_price"),
            )
            for row in (await self.call("positionbook")).get("data") or []
        ]

    async def funds(self) -> Funds:
        """Cash, collateral and margin in use (/funds)."""
        data = (await self.call("funds")).get("data") or {}
        return Funds(
            available_cash=_dec(data, "availablecash"),
            collateral=_dec(data, "collateral"),
            utilised=_dec(data, "utiliseddebits"),
        )


# --- working one leg ---------------------------------------------------------------------------------------


_PlacementKey = tuple[str, str, str, str, int]  # symbol, exchange, action, price type, quantity: what a lost order is
# matched by in the order book


class BrokerBooks:
    """The order book and the trade book as the orders worked at once read them, so that what is read per order does
    not grow with the day's orders (both books list every order and trade of the day).

    **Before a placement: which orders were already there.** A placement whose reply is lost is looked for in the
    order book among the orders that match it (symbol, exchange, side, type, quantity) and were not there before it
    was sent (`before`). Any read of the book answered before the request left holds only orders that were there,
    so `before` may use a recent one instead of a read of its own: one sent no more than `fresh_s` earlier (0: a
    read before every placement), plus every order placed through these books since. Exactly once still holds:

    * nothing is ever sent again: a lost reply is only looked for (`OpenAlgoBroker._find_sent`);
    * none of our own orders is taken for the lost one: only the leader sends (the fence refuses a deposed one's
      `sending`), an earlier leader's orders were in the book before this one read it, and here placements that
      would match each other go one at a time (`placing`), each one's order id joining `before` as soon as it is
      known: when a reply is lost, every earlier matching order of ours is in `before` and no later one has left;
    * an order that is not ours (placed by hand, identical in symbol, side, type and quantity) is excluded if it
      was in a read sent up to `fresh_s` before ours, instead of a read sent just before: one placed in that
      second is a candidate, as one placed in the seconds after ours always was. With ours also there, that is two
      candidates: ambiguous, `OrderOutcomeUnknown`, never a guess. The book stamps orders to the second, so
      matching them by time (docs/rules.md §8) could not tell such an order from ours either.

    A book not read within `fresh_s` is read before the placement, and nothing is sent if it cannot be. While
    orders are placed it is read again in the background once half that age is reached, so a steady flow of
    placements never waits for it.

    **After a fill: the trades.** An order's price comes from the trade book (OpenAlgo's orderstatus averages from
    the first trade only). `trades` answers from a read sent after it was asked (an order seen complete has all
    its trades in it), and one read answers every order that asked before it was sent: orders finishing together
    share a read instead of each reading the whole book. Reads are sent `trades_every_s` apart at least: while
    orders finish one after another, the ones that finish meanwhile share the next read rather than each
    starting one (the whole day's trades each time: flat out, most of the work of filling an order).
    """

    def __init__(self, client: OpenAlgoClient, *, fresh_s: float = 0.0, trades_every_s: float = 0.0) -> None:
        self.client = client
        self.fresh_s = fresh_s
        self.trades_every_s = trades_every_s
        self._known: frozenset[str] = frozenset()  # the ids in the newest order book read
        self._read_at: float | None = None  # when that read was sent (loop time)
        self._ours: set[str] = set()  # ids of orders placed through these books since that read was sent
        self._refresh: asyncio.Task[None] | None = None
        self._placing: dict[_PlacementKey, tuple[asyncio.Lock, int]] = {}
        self._trades_next: asyncio.Future[dict[str, list[Mapping[str, Any]]]] | None = None  # read not yet sent
        self._trades_reading: asyncio.Task[None] | None = None
        self._trades_sent_at: float | None = None  # when the last trade book read was sent (loop time)

    async def close(self) -> None:
        """Stop the background reads and forget what was read (a later placement reads afresh)."""
        waiting, self._trades_next = self._trades_next, None  # first: a read ending now sends no other
        if waiting is not None:
            waiting.cancel()
        tasks = [t for t in (self._refresh, self._trades_reading) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refresh = self._trades_reading = None
        self._known, self._read_at = frozenset(), None
        self._ours.clear()

    # --- before a placement --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def placing(self, key: _PlacementKey) -> AsyncIterator[None]:
        """Held from before a placement's `before` is taken until its order id is `placed` (or it is given up as
        unknown): no other placement that the same order book row could match is sent meanwhile."""
        lock, users = self._placing.get(key, (asyncio.Lock(), 0))
        self._placing[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._placing[key]
            if users == 1:
                del self._placing[key]
            else:
                self._placing[key] = (lock, users - 1)

    async def before(self) -> frozenset[str]:
        """Order ids known to be at the broker before a placement that leaves after this returns: an order book read
        sent no more than `fresh_s` ago (read now if there is none: BrokerError if it cannot be), and every order
        placed since it."""
        now = asyncio.get_running_loop().time()
        if self._read_at is None or self.fresh_s <= 0 or now - self._read_at > self.fresh_s:
            if self._refresh is not None and not self._refresh.done():
                await asyncio.shield(self._refresh)  # sent just now: as good as a read of our own
            if self._read_at is None or self.fresh_s <= 0 or now - self._read_at > self.fresh_s:
                await self._read_order_book()
        elif now - self._read_at > self.fresh_s / 2 and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._refresh_quietly(), name="order book snapshot")
        return self._known | self._ours

    def placed(self, orderid: str) -> None:
        """Our order `orderid` is at the broker: from now on it is in every `before`."""
        self._ours.add(orderid)

    async def _read_order_book(self) -> None:
        sent = asyncio.get_running_loop().time()
        ids = frozenset(order.orderid for order in await self.client.order_book())
        if self._read_at is None or sent > self._read_at:
            # An id placed while this read was out is kept in `_ours` unless the read saw it.
            self._known, self._read_at = ids, sent
            self._ours -= ids

    async def _refresh_quietly(self) -> None:
        # A failed background read changes nothing: the next placement finds the snapshot old and reads itself.
        with contextlib.suppress(BrokerError):
            await self._read_order_book()

    # --- after a fill --------------------------------------------------------------------------------------

    async def trades(self, orderids: Iterable[str]) -> list[Trade]:
        """The trades of `orderids`, from a trade book read sent after this call. BrokerError if it cannot be read."""
        waiting = self._trades_next
        if waiting is None:
            waiting = self._trades_next = asyncio.get_running_loop().create_future()
            if self._trades_reading is None:
                self._trades_reading = asyncio.create_task(self._read_trade_books(), name="trade book")
        by_order = await asyncio.shield(waiting)
        return [_trade(row) for orderid in dict.fromkeys(orderids) for row in by_order.get(orderid, ())]

    async def _read_trade_books(self) -> None:
        """Read the trade book while anyone waits for one: each read answers everyone who asked before it was sent;
        who asks while it is out waits for the next."""
        loop = asyncio.get_running_loop()
        try:
            while (future := self._trades_next) is not None:
                try:
                    if self._trades_sent_at is not None:
                        wait = self._trades_sent_at + self.trades_every_s - loop.time()
                        if wait > 0:
                            await asyncio.sleep(wait)  # who asks meanwhile is answered by this read too
                    self._trades_next = None
                    self._trades_sent_at = loop.time()
                    rows = await self.client.trade_rows()
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except Exception as failed:  # every waiter hears it (a BrokerError: the fills are not known yet)
                    future.set_exception(failed)
                    future.exception()  # retrieved here too: every waiter may have been cancelled meanwhile
                    continue
                by_order: dict[str, list[Mapping[str, Any]]] = {}
                for row in rows:
                    by_order.setdefault(str(row.get("orderid", "")), []).append(row)
                future.set_result(by_order)
        finally:
            self._trades_reading = None


class PlacementJournal(Protocol):
    """Hears of every order placement: `sending` before the request leaves (and must be durable by then),
    `placed` once the broker's order id is known."""

    async def sending(self, strategy: str) -> None: ...

    async def placed(self, strategy: str, orderid: str) -> None: ...


class OpenAlgoBroker:
    """Trades legs and synthetics through an `OpenAlgoClient`; every wait goes through the injected `sleep`."""

    def __init__(
        self,
        client: OpenAlgoClient,
        policy: ChasePolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        withdrawn: Withdrawn = _never_withdrawn,
        books: BrokerBooks | None = None,
    ) -> None:
        self.client = client
        self.policy = policy
        # Shared by every order a desk works at once (its own otherwise: the order book read before each placement).
        self.books = books if books is not None else BrokerBooks(client)
        self._sleep = sleep
        # Asked between two steps of a chase: True once the order is no longer wanted (an entry whose layer's exit
        # has been decided), and the chase then cancels what has not filled instead of taking it at MARKET.
        self._withdrawn = withdrawn
        self._journal: PlacementJournal | None = None

    async def trade_leg(
        self, leg: LegOrder, journal: PlacementJournal | None = None, *, quote: Quote | None = None
    ) -> LegFill:
        """Fill `leg` completely: LIMIT at LTP ± buffer, stepped and modified, then cancel and MARKET the rest.

        BrokerRefused if the broker rejects it; OrderOutcomeUnknown if an order's fate cannot be read back. The
        `journal` hears of each placement before it is sent and, with the broker's order id, after. The LTP is read
        now unless the caller has just read it (`quote`).
        """
        self._journal = journal
        policy = self.policy
        if quote is None:
            quote = await self.client.quote(leg.symbol, leg.exchange)
        price = limit_price(quote.ltp, policy.buffer, leg.tick, leg.action)
        orderid = await self._place(leg, strategy=leg.client_id, pricetype="LIMIT", quantity=leg.quantity, price=price)
        return await self.chase(leg, orderid, price)

    async def chase(self, leg: LegOrder, orderid: str, price: Decimal) -> LegFill:
        """Work the LIMIT order `orderid` of `leg` at `price` until it fills, stepping it towards the market; then
        cancel it and take the rest at MARKET. Withdrawn meanwhile: cancelled, and LegWithdrawn with what filled."""
        policy = self.policy
        for attempt in range(policy.modifications + 1):
            await self._sleep(policy.interval_s)
            state = await self._status(orderid, leg.client_id)
            if state is not None and state.status == _COMPLETE:
                return await self.traded(leg, (orderid,))
            status = "unreadable" if state is None else state.status
            if status == _REJECTED:
                raise BrokerRefused("orderstatus", f"order {orderid} ({leg.client_id}) rejected")
            if status == _CANCELLED or attempt == policy.modifications or await self._withdrawn():
                break
            buying = leg.action == "BUY"
            price = tick_round(price + policy.step if buying else price - policy.step, leg.tick, up=buying)
            # A refused modify means filled or cancelled meanwhile (or a hiccup): the next status read says which.
            with contextlib.suppress(BrokerError):
                await self.client.modify(orderid, leg, strategy=leg.client_id, price=price)
        return await self._cancel_and_take(leg, orderid)

    async def traded(self, leg: LegOrder, orderids: tuple[str, ...]) -> LegFill:
        """What the trade book says `orderids` filled of `leg`: the quantity and its quantity-weighted average price
        (OpenAlgo's orderstatus averages from the first trade only, so it is not read for the price)."""
        try:
            trades = await self.books.trades(orderids)
        except BrokerError as failed:
            raise OrderOutcomeUnknown(
                "tradebook", f"fills of order {', '.join(orderids)} unreadable: {failed}"
            ) from None
        filled = sum(t.quantity for t in trades)
        if not filled:
            raise OrderOutcomeUnknown("tradebook", f"order {', '.join(orderids)} is complete but has no trades yet")
        value = sum((t.average_price * t.quantity for t in trades), Decimal(0))
        return _fill(leg, filled, (value / filled).quantize(_AVERAGE_PLACES), orderids)

    async def cancel_and_take(self, leg: LegOrder, orderid: str) -> LegFill:
        """Cancel a working order of `leg` and take whatever it did not fill at MARKET (the journal first set), unless
        it has been withdrawn."""
        return await self._cancel_and_take(leg, orderid)

    async def _cancel_and_take(self, leg: LegOrder, orderid: str) -> LegFill:
        """Cancel the limit, then MARKET whatever it did not fill (LegWithdrawn instead, if it is no longer wanted)."""
        # A refused cancel may mean "not cancellable" because it just filled: the status read below decides.
        with contextlib.suppress(BrokerError):
            await self.client.cancel(orderid, strategy=leg.client_id)
        state = await self._status(orderid, leg.client_id)
        if state is not None and state.status == _COMPLETE:
            return await self.traded(leg, (orderid,))
        if state is None or state.status not in (_CANCELLED, _REJECTED):  # neither can fill any more
            seen = "unreadable" if state is None else state.status
            raise OrderOutcomeUnknown(
                "cancelorder",
                f"limit order {orderid} ({leg.client_id}) is {seen} after cancelling; no market order sent",
            )
        try:
            trades = await self.books.trades((orderid,))
        except BrokerError as failed:  # how much the limit filled decides how much to buy: no guessing
            raise OrderOutcomeUnknown("tradebook", f"fills of cancelled order {orderid} unreadable: {failed}") from None
        filled = sum(t.quantity for t in trades)
        value = sum((t.average_price * t.quantity for t in trades), Decimal(0))
        if filled >= leg.quantity:
            return _fill(leg, filled, value / filled, (orderid,))
        if await self._withdrawn():
            part = _fill(leg, filled, (value / filled).quantize(_AVERAGE_PLACES), (orderid,)) if filled else None
            raise LegWithdrawn(
                "cancelorder", f"withdrawn: the layer's exit came first; {filled} of {leg.quantity} filled", part=part
            )
        try:
            market, price = await self._take_rest(leg, leg.quantity - filled)
        except BrokerError as failed:
            if not filled or isinstance(failed, OrderOutcomeUnknown):
                raise
            part = _fill(leg, filled, value / filled, (orderid,))
            raise LegIncomplete(
                failed.endpoint,
                f"{filled} of {leg.quantity} filled by order {orderid}, the rest failed: {failed.broker_message}",
                part=part,
            ) from failed
        if not filled:
            return _fill(leg, leg.quantity, price, (market,))
        average = (value + price * (leg.quantity - filled)) / leg.quantity
        return _fill(leg, leg.quantity, average.quantize(_AVERAGE_PLACES), (orderid, market))

    async def _take_rest(self, leg: LegOrder, quantity: int) -> tuple[str, Decimal]:
        """A MARKET order for `quantity` of `leg`, polled until complete: its id and average price."""
        market_id = f"{leg.client_id}-m"
        market = await self._place(leg, strategy=market_id, pricetype="MARKET", quantity=quantity)
        for poll in range(self.policy.market_polls):
            if poll:
                await self._sleep(self.policy.interval_s)
            state = await self._status(market, market_id)
            if state is not None and state.status == _REJECTED:
                raise BrokerRefused("orderstatus", f"market order {market} ({market_id}) rejected")
            if state is not None and state.status == _COMPLETE:
                return market, (await self.traded(leg, (market,))).average_price
        raise OrderOutcomeUnknown(
            "orderstatus", f"market order {market} ({market_id}) not complete after {self.policy.market_polls} checks"
        )

    async def _place(
        self, leg: LegOrder, *, strategy: str, pricetype: PriceType, quantity: int, price: Decimal = Decimal(0)
    ) -> str:
        """Send one order exactly once; a lost reply is resolved from the order book (what was there before is known
        first, so nothing is sent if it cannot be: see BrokerBooks)."""
        journal = self._journal
        async with self.books.placing((leg.symbol, leg.exchange, leg.action, pricetype, quantity)):
            before = await self.books.before()
            if journal is not None:
                await journal.sending(strategy)  # durable before the request leaves: a crash now is found, not resent
            try:
                orderid = await self.client.place(
                    leg, strategy=strategy, pricetype=pricetype, quantity=quantity, price=price
                )
                if not orderid:  # a success without an order id (semi-auto's pending_order_id): not known to be placed
                    raise BrokerUnreachable("placeorder", "success without an orderid")
            except BrokerUnreachable as lost:
                orderid = await self._find_sent(leg, strategy, pricetype, quantity, before, lost)
            self.books.placed(orderid)
        if journal is not None:
            await journal.placed(strategy, orderid)
        return orderid

    async def _find_sent(
        self,
        leg: LegOrder,
        strategy: str,
        pricetype: PriceType,
        quantity: int,
        before: frozenset[str],
        lost: BrokerUnreachable,
    ) -> str:
        """The id of the order whose placement reply was lost: new since `before`, matching what was sent."""
        for check in range(self.policy.resolve_checks):
            if check:
                await self._sleep(self.policy.interval_s)
            try:
                book = await self.client.order_book()
            except BrokerError:
                continue
            found = [
                o.orderid
                for o in book
                if o.orderid not in before
                and o.symbol == leg.symbol
                and o.exchange == leg.exchange
                and o.action == leg.action
                and o.pricetype == pricetype
                and o.quantity == quantity
            ]
            if len(found) == 1:
                return found[0]
            if found:
                raise OrderOutcomeUnknown(
                    "orderbook", f"{strategy}: {len(found)} new orders match ({lost}); not re-sent"
                )
        raise OrderOutcomeUnknown(
            "orderbook",
            f"{strategy}: not in the order book after {self.policy.resolve_checks} checks ({lost}); not re-sent",
        )

    async def _status(self, orderid: str, strategy: str) -> OrderState | None:
        """The order's state, or None if unreadable (no answer, or a broker that does not list it yet): the caller
        asks again or gives up as unknown, never acts as if it were not there."""
        try:
            return await self.client.order_status(orderid, strategy=strategy)
        except BrokerError:
            return None

    # --- Bank Nifty synthetic ---------------------------------------------------------------------------

    async def enter_synthetic(
        self,
        order: SyntheticOrder,
        on_leg_filled: Callable[[LegFill], Awaitable[None]],
        journal: PlacementJournal | None = None,
    ) -> SyntheticEntry:
        """SELL the ATM put, then BUY the ATM call; if the call fails, BUY the put back.

        `on_leg_filled` hears every fill as it happens, before the next order is sent, so the caller can persist
        the position as `partial` and never lose a filled leg; the `journal` hears of every placement. A failure
        of the first leg raises: nothing is held, unless it is `LegIncomplete`, whose `part` is.
        """
        put = await self.trade_leg(order.leg("1", order.put_symbol, "SELL"), journal)
        await on_leg_filled(put)
        try:
            call = await self.trade_leg(order.leg("2", order.call_symbol, "BUY"), journal)
        except OrderOutcomeUnknown as unknown:  # the call may be filled: reversing the put could leave it naked
            return SyntheticEntry(outcome="unresolved", put=put, reason=str(unknown))
        except LegIncomplete as partly:  # part of the call is held: reversing all the put would not square it
            await on_leg_filled(partly.part)
            return SyntheticEntry(outcome="unresolved", put=put, call=partly.part, reason=str(partly))
        except BrokerError as failed:
            try:
                back = await self.trade_leg(order.leg("1-reverse", order.put_symbol, "BUY"), journal)
            except BrokerError as stuck:
                return SyntheticEntry(outcome="unhedged", put=put, reason=f"{failed}; reversing leg 1 failed: {stuck}")
            await on_leg_filled(back)
            return SyntheticEntry(outcome="reversed", put=put, reversal=back, reason=str(failed))
        await on_leg_filled(call)
        return SyntheticEntry(
            outcome="filled",
            put=put,
            call=call,
            entry_price=Decimal(order.strike) + call.average_price - put.average_price,
        )


def _fill(leg: LegOrder, quantity: int, average: Decimal, ids: tuple[str, ...]) -> LegFill:
    return LegFill(
        client_id=leg.client_id,
        symbol=leg.symbol,
        action=leg.action,
        quantity=quantity,
        average_price=average,
        broker_order_ids=ids,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticOrder:
    """A synthetic long future to enter: the two option symbols at one strike, and the units per leg."""

    origin: str  # the signal id or roll id the client ids derive from
    action: str  # e.g. "BASE_ENTRY" or "ROLL_OPEN"
    exchange: str
    strike: int
    put_symbol: str
    call_symbol: str
    quantity: int  # units per leg = lots × lot size
    tick: Decimal
    product: str = "NRML"

    def leg(self, leg: str, symbol: str, action: Action) -> LegOrder:
        """Leg `leg` of this synthetic as an order, named by its deterministic client id."""
        return LegOrder(
            client_id=client_order_id(self.origin, self.action, leg),
            symbol=symbol,
            exchange=self.exchange,
            action=action,
            quantity=self.quantity,
            tick=self.tick,
            product=self.product,
        )


def synthetic_order(
    instrument: Instrument, *, origin: str, action: str, expiry: date, strike: int, lots: int
) -> SyntheticOrder:
    """The synthetic for `lots` of `instrument` at `strike` in the contract expiring on `expiry`."""
    if instrument.traded_as != "synthetic":
        raise ValueError(f"{instrument.name} is traded as {instrument.traded_as}, not as a synthetic")
    if lots <= 0:
        raise ValueError(f"lots must be above 0, got {lots}")
    return SyntheticOrder(
        origin=origin,
        action=action,
        exchange=instrument.exchange,
        strike=strike,
        put_symbol=option_symbol(instrument.symbol_root, expiry, strike, "PE"),
        call_symbol=option_symbol(instrument.symbol_root, expiry, strike, "CE"),
        quantity=lots * instrument.lot_size,
        tick=to_decimal(instrument.tick),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticEntry:
    """How a synthetic entry ended, with every leg that filled.

    filled: both legs, `entry_price` = strike + call premium − put premium. reversed: the call failed and the
    put was bought back (`reversal`). unhedged: the call failed and so did the reversal — the short put is open.
    unresolved: the call's fate is unknown, or only part of it filled (`call` is that part); nothing is reversed,
    since a blind reversal could leave the call naked: reconcile with the broker.
    """

    outcome: Literal["filled", "reversed", "unhedged", "unresolved"]
    put: LegFill
    call: LegFill | None = None
    reversal: LegFill | None = None
    entry_price: Decimal | None = None
    reason: str = ""


# --- reconciliation ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionDifference:
    """One symbol where the broker and Basso disagree (units, signed)."""

    symbol: str
    kind: Literal["missing_at_broker", "missing_here", "quantity_mismatch"]
    expected: int
    at_broker: int


def reconcile(at_broker: Iterable[BrokerPosition], expected: Mapping[str, int]) -> list[PositionDifference]:
    """Every symbol whose net quantity at the broker differs from `expected`, sorted by symbol.

    Rows of one symbol are summed across products (a symbol's net is what is at risk); a closed row (0) counts as
    nothing held.
    """
    held: dict[str, int] = {}
    for position in at_broker:
        held[position.symbol] = held.get(position.symbol, 0) + position.quantity
    differences = []
    for symbol in sorted(set(held) | set(expected)):
        want, have = expected.get(symbol, 0), held.get(symbol, 0)
        if want != have:
            kind: Literal["missing_at_broker", "missing_here", "quantity_mismatch"] = (
                "missing_at_broker" if have == 0 else "missing_here" if want == 0 else "quantity_mismatch"
            )
            differences.append(PositionDifference(symbol=symbol, kind=kind, expected=want, at_broker=have))
    return differences
