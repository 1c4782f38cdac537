"""`POST /api/orders/resolve` and `basso order resolve`: the trader says how an `unknown` order ended at the broker
(docs/rules.md §8). Gold Mini through the order desk and the fake OpenAlgo, whose gateway answers the BUY with an
HTTP 500 and does nothing, so the order is in no book Basso can read: `unknown` after three checks, an alert, and
entries on Gold Mini blocked. The real app on a real socket writes the trader's answer under the leader's fence.
Figures by hand from the shipped configuration (₹10 a point a lot, commission 0.05 % of notional per side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer

from basso.cli import main
from basso.config import Config
from basso.http.app import build_app
from basso.http.ratelimit import RateLimiter
from basso.http.state import Services
from basso.store.blocks import entry_blocks
from tests.brokers.desk_support import Desk, desk_on
from tests.brokers.test_desk_exits import AT, ENTRY, symbol

TOKEN = "admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def unknown_orders(pool: asyncpg.Pool) -> dict[str, str]:
    """What the RiskGuard reads as unknown at the broker (after three checks), by instrument."""
    return (await entry_blocks(pool, checks=3, today=AT.date())).unknown


@dataclass
class Operator:
    desk: Desk
    session: aiohttp.ClientSession
    server: TestServer
    services: Services

    async def resolve(self, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        url = self.server.make_url("/api/orders/resolve")
        async with self.session.post(url, data=orjson.dumps(body), headers=ADMIN) as response:
            return response.status, await response.json(content_type=None)


@pytest.fixture
async def operator(migrated_database: str, config: Config) -> AsyncIterator[Operator]:
    async with desk_on(migrated_database, config, AT) as desk:
        services = Services(
            config=config,
            pool=desk.pool,
            webhook_secret="secret",
            admin_token=TOKEN,
            wall_clock=lambda: AT,
            limiter=RateLimiter(per_minute=1000, clock=lambda: 0.0),
            epoch=lambda: desk.epoch,
            migrated=True,
            recovered=lambda: True,
        )
        server = TestServer(build_app(services))
        await server.start_server()
        async with aiohttp.ClientSession() as session:
            yield Operator(desk, session, server, services)
        await server.close()


async def an_unknown_entry(desk: Desk) -> str:
    """Decide a 2-lot Gold Mini entry whose placement the gateway loses; its client id once it is unknown."""
    desk.fake.set_market(symbol(desk.config), lot_size=100, tick="1", ltp="78500")
    desk.fake.fail_next("placeorder", "http500")  # the gateway did nothing: no book will ever show it
    await desk.decide(ENTRY)
    await desk.work()
    order = await desk.pool.fetchrow("SELECT client_id, status, checks FROM orders")
    assert order is not None
    assert (order["status"], order["checks"]) == ("unknown", 3)
    assert (await unknown_orders(desk.pool)) == {"GOLD_MINI": order["client_id"]}
    return str(order["client_id"])


async def test_an_unknown_entry_the_broker_never_had_closes_its_layer_and_lifts_the_block(operator: Operator) -> None:
    desk = operator.desk
    client_id = await an_unknown_entry(desk)
    status, reply = await operator.resolve(
        {"client_id": client_id, "filled_lots": 0, "reason": "not in OpenAlgo's order book"}
    )
    assert status == 200, reply
    assert (reply["status"], reply["filled_lots"], reply["lots"]) == ("cancelled", 0, 2)
    order = await desk.pool.fetchrow("SELECT status, reason FROM orders")
    assert order is not None
    assert (order["status"], order["reason"]) == (
        "cancelled",
        "resolved by hand (127.0.0.1): not in OpenAlgo's order book",
    )
    layer = await desk.pool.fetchrow("SELECT status, lots FROM positions")
    assert layer is not None
    assert (layer["status"], layer["lots"]) == ("closed", 0)
    signal = await desk.pool.fetchrow("SELECT outcome, reason FROM signals")
    assert signal is not None
    assert (signal["outcome"], signal["reason"]) == (
        "failed",
        "cancelled: resolved by hand (127.0.0.1): not in OpenAlgo's order book",
    )
    assert (await unknown_orders(desk.pool)) == {}
    assert await desk.pool.fetchval("SELECT count(*) FROM ledger WHERE kind <> 'deposit'") == 0
    # Done now: a second answer changes nothing.
    status, reply = await operator.resolve({"client_id": client_id, "filled_lots": 0, "reason": "again"})
    assert status == 409
    assert reply["field"] == "client_id"


async def test_an_unknown_entry_that_did_fill_opens_its_layer_at_the_price_the_trader_found(
    operator: Operator,
) -> None:
    desk = operator.desk
    client_id = await an_unknown_entry(desk)
    status, reply = await operator.resolve(
        {"client_id": client_id, "filled_lots": 2, "price": "78510.50", "reason": "filled, order 2511"}
    )
    assert status == 200, reply
    assert (reply["status"], reply["filled_lots"], reply["price"]) == ("filled", 2, "78510.50")
    order = await desk.pool.fetchrow("SELECT status, filled_lots, fill_price, commission FROM orders")
    assert order is not None
    # Commission 78,510.50 × 2 × 10 × 0.05 % = 785.105 → ₹785.10 (half to even).
    assert tuple(order) == ("filled", 2, Decimal("78510.5000"), Decimal("785.10"))
    layer = await desk.pool.fetchrow("SELECT status, lots, entry_price, highest_close FROM positions")
    assert layer is not None
    assert tuple(layer) == ("open", 2, Decimal("78510.5000"), Decimal("78510.5000"))
    ledger = await desk.pool.fetch("SELECT kind, amount FROM ledger WHERE kind <> 'deposit'")
    assert [(r["kind"], r["amount"]) for r in ledger] == [("commission", Decimal("-785.10"))]
    assert (await unknown_orders(desk.pool)) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filled_lots": 3, "price": "78500"}, "filled_lots"),  # more than the 2 lots ordered
        ({"filled_lots": -1}, "filled_lots"),
        ({"filled_lots": "2", "price": "78500"}, "filled_lots"),
        ({"filled_lots": 1}, "price"),  # something filled: at what price?
        ({"filled_lots": 1, "price": "0"}, "price"),
        ({"filled_lots": 1, "price": "a lot"}, "price"),
        ({"filled_lots": 0, "reason": ""}, "reason"),
    ],
)
async def test_a_wrong_answer_is_refused_naming_the_field_and_changes_nothing(
    operator: Operator, body: dict[str, object], field: str
) -> None:
    desk = operator.desk
    client_id = await an_unknown_entry(desk)
    status, reply = await operator.resolve({"client_id": client_id, "reason": "looked it up"} | body)
    assert (status, reply["field"]) == (400, field), reply
    order = await desk.pool.fetchrow("SELECT status, filled_lots FROM orders")
    assert order is not None
    assert tuple(order) == ("unknown", 0)
    assert await desk.pool.fetchval("SELECT status FROM positions") == "opening"


async def test_only_an_unknown_order_is_resolved_by_hand_and_only_by_the_leader(operator: Operator) -> None:
    desk = operator.desk
    desk.fake.set_market(symbol(desk.config), lot_size=100, tick="1", ltp="78500")
    await desk.decide(ENTRY)  # pending: Basso has not sent it yet
    client_id = await desk.pool.fetchval("SELECT client_id FROM orders")
    status, reply = await operator.resolve({"client_id": client_id, "filled_lots": 0, "reason": "x"})
    assert status == 409
    assert "pending: Basso is still working it" in str(reply["error"])
    status, reply = await operator.resolve({"client_id": "no-such-order", "filled_lots": 0, "reason": "x"})
    assert (status, reply["field"]) == (409, "client_id")
    operator.services.epoch = lambda: None  # a follower
    status, reply = await operator.resolve({"client_id": client_id, "filled_lots": 0, "reason": "x"})
    assert (status, reply["field"]) == (503, "instance")
    assert await desk.pool.fetchval("SELECT status FROM orders") == "pending"


async def test_basso_order_resolve_says_what_it_booked(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    client_id = await an_unknown_entry(operator.desk)
    url = str(operator.server.make_url("/")).rstrip("/")
    command = ["order", "resolve", client_id, "--filled", "1", "--url", url, "--token", TOKEN]
    assert await asyncio.to_thread(main, [*command, "--reason", "half filled"]) == 2  # no price
    assert capsys.readouterr().err == (
        "basso order: error: price: price is required: the average price of what filled\n"
    )
    assert await asyncio.to_thread(main, [*command, "--price", "78504", "--reason", "half filled"]) == 0
    assert capsys.readouterr().out == (
        f"order {client_id} (BUY GOLD_MINI Long_1): 1 of 2 lots at 78504 filled; cancelled\n"
    )
    layer = await operator.desk.pool.fetchrow("SELECT status, lots, entry_price FROM positions")
    assert layer is not None
    assert tuple(layer) == ("open", 1, Decimal("78504.0000"))
