"""The OpenAlgo adapter against a fake OpenAlgo gateway over real HTTP on a localhost socket (no mocks).

Every wait goes through a recording `sleep` that returns at once, so nothing here sleeps for real; the only real
waits are the client timeouts of the "hang" cases (0.2 s), which is what they test.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from basso.brokers.openalgo import (
    BrokerPosition,
    BrokerRefused,
    BrokerUnreachable,
    ChasePolicy,
    LegFill,
    LegIncomplete,
    LegOrder,
    OpenAlgoBroker,
    OpenAlgoClient,
    OrderOutcomeUnknown,
    PositionDifference,
    client_order_id,
    limit_price,
    reconcile,
    synthetic_order,
)
from basso.config import Config
from tests.brokers.fake_openalgo import FakeOpenAlgo, FaultKind

PUT, CALL = "BANKNIFTY30DEC2552000PE", "BANKNIFTY30DEC2552000CE"
TICK = Decimal("0.05")
POLICY = ChasePolicy(
    buffer=Decimal("0.50"), step=Decimal("0.12"), modifications=2, interval_s=1.5, market_polls=3, resolve_checks=3
)


class Sleeps:
    """An injected sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def broker(client: OpenAlgoClient, sleeps: Sleeps) -> OpenAlgoBroker:
    return OpenAlgoBroker(client, POLICY, sleep=sleeps)


def leg(symbol: str, action: str, quantity: int, *, name: str = "1") -> LegOrder:
    assert action in ("BUY", "SELL")
    return LegOrder(
        client_id=client_order_id("sig-1", "BASE_ENTRY", name),
        symbol=symbol,
        exchange="NFO",
        action="BUY" if action == "BUY" else "SELL",
        quantity=quantity,
        tick=TICK,
    )


def orders_sent(fake: FakeOpenAlgo) -> list[str]:
    """The order-changing calls in the order they reached the fake (placeorder shown with its price type)."""
    return [
        f"{r.endpoint}:{r.body.get('pricetype', '')}".rstrip(":")
        for r in fake.requests
        if r.endpoint in ("placeorder", "modifyorder", "cancelorder")
    ]


# --- pure rules --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ltp", "buffer", "tick", "action", "expected"),
    [
        ("100.50", "0.12", "0.05", "BUY", "100.65"),  # 100.50 + 0.12 = 100.62 → up to 100.65, never below LTP + buffer
        ("100.50", "0.12", "0.05", "SELL", "100.35"),  # 100.50 − 0.12 = 100.38 → down to 100.35
        ("100.50", "0.10", "0.05", "BUY", "100.60"),  # 100.60 is on the tick: unchanged
        ("100.50", "0.10", "0.05", "SELL", "100.40"),
        ("72000", "2.5", "1", "BUY", "72003"),  # Gold Mini, tick 1: 72002.5 → 72003
        ("72000", "2.5", "1", "SELL", "71997"),  # 71997.5 → 71997
        ("0.10", "0.50", "0.05", "SELL", "0.05"),  # 0.10 − 0.50 < 0: one tick, the lowest price there is
    ],
)
def test_limit_price_rounds_to_the_tick_on_the_aggressive_side(
    ltp: str, buffer: str, tick: str, action: str, expected: str
) -> None:
    assert limit_price(Decimal(ltp), Decimal(buffer), Decimal(tick), "BUY" if action == "BUY" else "SELL") == Decimal(
        expected
    )


def test_client_ids_are_stable_and_tell_signal_action_and_leg_apart() -> None:
    first = client_order_id("sig-1", "BASE_ENTRY", "1")
    assert first == client_order_id("sig-1", "BASE_ENTRY", "1")
    assert first.startswith("basso-")
    assert len(first) == 22
    assert int(first[6:], 16) >= 0
    others = {
        client_order_id("sig-2", "BASE_ENTRY", "1"),
        client_order_id("sig-1", "EXIT", "1"),
        client_order_id("sig-1", "BASE_ENTRY", "2"),
        client_order_id("sig-1", "BASE_ENTRY", "1-reverse"),
    }
    assert first not in others
    assert len(others) == 4
    # The parts are joined with a separator no id contains, so shifting text between parts changes the id.
    assert client_order_id("a-b", "c", "d") != client_order_id("a", "b-c", "d")


def test_reconcile_names_every_kind_of_difference() -> None:
    at_broker = [
        BrokerPosition(symbol=s, exchange="NFO", product="NRML", quantity=q, average_price=Decimal(0))
        for s, q in [("A", -60), ("B", 30), ("D", 15), ("E", 0), ("F", 20), ("F", 10)]
    ]
    expected = {"A": -60, "B": 60, "C": 30, "F": 30}
    assert reconcile(at_broker, expected) == [
        PositionDifference(symbol="B", kind="quantity_mismatch", expected=60, at_broker=30),
        PositionDifference(symbol="C", kind="missing_at_broker", expected=30, at_broker=0),
        PositionDifference(symbol="D", kind="missing_here", expected=0, at_broker=15),
    ]  # A agrees; E is closed (0) on both sides; F's two product rows sum to 20 + 10 = 30 as expected


# --- one leg -----------------------------------------------------------------------------------------------


async def test_a_crossing_limit_fills_at_once_and_sends_the_documented_fields(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, sleeps: Sleeps
) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")
    order = leg(PUT, "SELL", 60)
    fill = await broker.trade_leg(order)
    # SELL limit = 250.00 − 0.50 = 249.50 ≤ bid 249.90, so it fills at the bid, 249.90.
    (orderid,) = fake.orders
    assert (fill.quantity, fill.average_price, fill.broker_order_ids) == (60, Decimal("249.90"), (orderid,))
    assert fake.sent("placeorder") == [
        {
            "apikey": fake.api_key,
            "strategy": order.client_id,
            "symbol": PUT,
            "exchange": "NFO",
            "action": "SELL",
            "product": "NRML",
            "pricetype": "LIMIT",
            "quantity": "60",
            "price": "249.50",
            "trigger_price": "0",
            "disclosed_quantity": "0",
        }
    ]
    assert orders_sent(fake) == ["placeorder:LIMIT"]
    assert sleeps.calls == [1.5]


@pytest.mark.parametrize(
    ("action", "bid", "ask", "modified", "filled_at"),
    [
        # BUY: 100.00 + 0.10 = 100.10; + 0.12 = 100.22 → 100.25; + 0.12 = 100.37 → 100.40 (filled there)
        ("BUY", "99.00", "105.00", ["100.25", "100.40"], "100.40"),
        # SELL: 100.00 − 0.10 = 99.90; − 0.12 = 99.78 → 99.75; − 0.12 = 99.63 → 99.60 (filled there)
        ("SELL", "95.00", "101.00", ["99.75", "99.60"], "99.60"),
    ],
)
async def test_an_unfilled_limit_is_stepped_and_modified_until_it_fills(
    fake: FakeOpenAlgo,
    client: OpenAlgoClient,
    sleeps: Sleeps,
    action: str,
    bid: str,
    ask: str,
    modified: list[str],
    filled_at: str,
) -> None:
    fake.set_market(PUT, ltp="100.00", bid=bid, ask=ask).fill_after_modifications = 2
    broker = OpenAlgoBroker(
        client, ChasePolicy(buffer=Decimal("0.10"), step=Decimal("0.12"), modifications=2, interval_s=1.5), sleep=sleeps
    )
    fill = await broker.trade_leg(leg(PUT, action, 30))
    assert [body["price"] for body in fake.sent("placeorder")] == ["100.10" if action == "BUY" else "99.90"]
    assert [body["price"] for body in fake.sent("modifyorder")] == modified
    assert (fill.quantity, fill.average_price) == (30, Decimal(filled_at))
    assert orders_sent(fake) == ["placeorder:LIMIT", "modifyorder:LIMIT", "modifyorder:LIMIT"]
    assert sleeps.calls == [1.5, 1.5, 1.5]  # before each of the three status checks; the third saw it complete


async def test_a_limit_that_never_fills_is_cancelled_and_completed_at_market(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, sleeps: Sleeps
) -> None:
    fake.set_market(CALL, ltp="100.00", bid="99.00", ask="105.00")
    order = leg(CALL, "BUY", 30)
    fill = await broker.trade_leg(order)
    # 100.50 → 100.62 → 100.65 → 100.77 → 100.80: never reaches the ask (105.00), so cancel and buy at market.
    assert [body["price"] for body in fake.sent("modifyorder")] == ["100.65", "100.80"]
    assert orders_sent(fake) == [
        "placeorder:LIMIT",
        "modifyorder:LIMIT",
        "modifyorder:LIMIT",
        "cancelorder",
        "placeorder:MARKET",
    ]
    limit, market = fake.orders.values()
    assert (limit.status, limit.filled, market.quantity) == ("cancelled", 0, 30)
    assert fake.sent("placeorder")[1]["strategy"] == f"{order.client_id}-m"
    assert (fill.quantity, fill.average_price, fill.broker_order_ids) == (30, Decimal("105.00"), (market.orderid,))
    assert sleeps.calls == [1.5, 1.5, 1.5]


async def test_a_partly_filled_limit_is_completed_for_the_rest_only(fake: FakeOpenAlgo, broker: OpenAlgoBroker) -> None:
    fake.set_market(CALL, ltp="100.00", bid="99.00", ask="105.05").partial_fill = 10
    fill = await broker.trade_leg(leg(CALL, "BUY", 30))
    # 10 filled at the limit 100.50 when placed; the other 30 − 10 = 20 at market, at the ask 105.05.
    # Average = (10 × 100.50 + 20 × 105.05) ÷ 30 = (1005.00 + 2101.00) ÷ 30 = 3106 ÷ 30 = 103.5333… → 103.5333.
    assert fake.sent("placeorder")[1]["quantity"] == "20"
    assert (fill.quantity, fill.average_price) == (30, Decimal("103.5333"))
    assert fill.broker_order_ids == tuple(fake.orders)
    assert fake.net(CALL) == 30


async def test_a_part_filled_leg_whose_rest_is_refused_reports_the_part(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker
) -> None:
    market = fake.set_market(CALL, ltp="100.00", bid="99.00", ask="105.05")
    market.partial_fill, market.reject_market = 10, "Market orders are blocked for illiquid contracts"
    with pytest.raises(LegIncomplete, match=r"10 of 30 filled .* Market orders are blocked") as raised:
        await broker.trade_leg(leg(CALL, "BUY", 30))
    limit = next(iter(fake.orders))
    assert (raised.value.part.quantity, raised.value.part.average_price) == (10, Decimal("100.50"))
    assert raised.value.part.broker_order_ids == (limit,)
    assert fake.net(CALL) == 10


async def test_an_unreadable_trade_book_sends_no_market_order(fake: FakeOpenAlgo, broker: OpenAlgoBroker) -> None:
    fake.set_market(CALL, ltp="100.00", bid="99.00", ask="105.00")
    fake.fail_next("tradebook", "drop")
    with pytest.raises(OrderOutcomeUnknown, match=r"^OpenAlgo tradebook: fills of cancelled order"):
        await broker.trade_leg(leg(CALL, "BUY", 30))
    assert [body["pricetype"] for body in fake.sent("placeorder")] == ["LIMIT"]


@pytest.mark.parametrize("kind", ["hang", "http500", "drop"])
async def test_a_lost_placement_reply_is_resolved_from_the_order_book_never_resent(
    fake: FakeOpenAlgo, sleeps: Sleeps, kind: FaultKind
) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")
    fake.fail_next("placeorder", kind, after_processing=True)  # the order is placed; its reply never arrives
    async with OpenAlgoClient(base_url=fake.url, api_key=fake.api_key, timeout_s=0.2) as client:
        fill = await OpenAlgoBroker(client, POLICY, sleep=sleeps).trade_leg(leg(PUT, "SELL", 60))
    (orderid,) = fake.orders
    assert len(fake.sent("placeorder")) == 1
    assert (fill.broker_order_id, fill.quantity, fill.average_price) == (orderid, 60, Decimal("249.90"))
    assert len(fake.sent("orderbook")) == 2  # the snapshot before sending, then the read that found it
    assert fake.net(PUT) == -60


async def test_an_identical_earlier_order_is_not_mistaken_for_the_lost_one(
    fake: FakeOpenAlgo, client: OpenAlgoClient, broker: OpenAlgoBroker
) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")
    order = leg(PUT, "SELL", 60)
    earlier = await client.place(
        order, strategy="earlier-today", pricetype="LIMIT", quantity=60, price=Decimal("249.50")
    )  # the same symbol, side, type and size, hours ago
    fake.fail_next("placeorder", "drop", after_processing=True)
    fill = await broker.trade_leg(order)
    (ours,) = set(fake.orders) - {earlier}
    assert fill.broker_order_id == ours
    assert len(fake.sent("placeorder")) == 2  # the earlier order and ours, once


async def test_two_matching_new_orders_are_refused_as_ambiguous(fake: FakeOpenAlgo, broker: OpenAlgoBroker) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")
    fake.fail_next("placeorder", "drop", after_processing=True, repeat=2)  # the gateway submitted it twice
    with pytest.raises(OrderOutcomeUnknown, match="2 new orders match"):
        await broker.trade_leg(leg(PUT, "SELL", 60))
    assert len(fake.sent("placeorder")) == 1
    assert len(fake.orders) == 2


async def test_a_placement_that_never_arrived_is_reported_unknown_not_resent(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, sleeps: Sleeps
) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")
    fake.fail_next("placeorder", "http500")  # refused before doing anything
    order = leg(PUT, "SELL", 60)
    with pytest.raises(OrderOutcomeUnknown, match="not re-sent") as raised:
        await broker.trade_leg(order)
    assert order.client_id in str(raised.value)
    assert len(fake.sent("placeorder")) == 1
    assert not fake.orders
    assert len(fake.sent("orderbook")) == 1 + POLICY.resolve_checks  # snapshot, then 3 checks
    assert sleeps.calls == [1.5, 1.5]  # between the three checks


async def test_no_market_order_while_the_limit_may_still_be_working(fake: FakeOpenAlgo, broker: OpenAlgoBroker) -> None:
    fake.set_market(CALL, ltp="100.00", bid="99.00", ask="105.00")
    fake.fail_next("cancelorder", "http500")  # the cancel never reaches the order: it stays open
    with pytest.raises(OrderOutcomeUnknown, match="is open after cancelling; no market order sent"):
        await broker.trade_leg(leg(CALL, "BUY", 30))
    assert orders_sent(fake) == ["placeorder:LIMIT", "modifyorder:LIMIT", "modifyorder:LIMIT", "cancelorder"]
    assert [o.status for o in fake.orders.values()] == ["open"]


@pytest.mark.parametrize("kind", ["drop", "refuse"])
async def test_an_unanswered_status_read_is_read_again(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, kind: FaultKind
) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")
    fake.fail_next("orderstatus", kind)  # no reply, or "Order not found" from a broker slow to list it
    fill = await broker.trade_leg(leg(PUT, "SELL", 60))
    assert fill.average_price == Decimal("249.90")
    assert len(fake.sent("placeorder")) == 1
    assert len(fake.sent("orderstatus")) == 2


async def test_a_wrong_apikey_is_refused_naming_the_endpoint_and_the_broker_message(fake: FakeOpenAlgo) -> None:
    fake.set_market(PUT, ltp="250.00")
    async with OpenAlgoClient(base_url=fake.url, api_key="not-the-key") as client:
        with pytest.raises(BrokerRefused, match=r"^OpenAlgo quotes: HTTP 403: Invalid openalgo apikey$"):
            await client.quote(PUT, "NFO")


async def test_a_rejected_order_is_refused_with_the_broker_message(fake: FakeOpenAlgo, broker: OpenAlgoBroker) -> None:
    fake.set_market(PUT, ltp="250.00").reject = "RMS: margin exceeds available funds"
    with pytest.raises(BrokerRefused, match=r"^OpenAlgo placeorder: HTTP 400: RMS: margin exceeds available funds$"):
        await broker.trade_leg(leg(PUT, "SELL", 60))
    assert len(fake.sent("placeorder")) == 1


async def test_a_hung_call_times_out_as_unreachable(fake: FakeOpenAlgo) -> None:
    fake.fail_next("funds", "hang")
    # A second: long enough that the answered call after it never runs out of time on a loaded machine.
    async with OpenAlgoClient(base_url=fake.url, api_key=fake.api_key, timeout_s=1.0) as client:
        with pytest.raises(BrokerUnreachable, match=r"^OpenAlgo funds: no reply within 1.0 s$"):
            await client.funds()
        assert (await client.funds()).available_cash == Decimal("500000.00")  # the next call is answered


async def test_the_position_book_is_read_and_reconciled(fake: FakeOpenAlgo, client: OpenAlgoClient) -> None:
    fake.hold("GOLDM05JAN26FUT", 100, exchange="MCX")
    fake.hold(PUT, -60)
    positions = await client.positions()
    assert {(p.symbol, p.exchange, p.quantity) for p in positions} == {
        ("GOLDM05JAN26FUT", "MCX", 100),
        (PUT, "NFO", -60),
    }
    assert reconcile(positions, {PUT: -60, CALL: 60}) == [
        PositionDifference(symbol=CALL, kind="missing_at_broker", expected=60, at_broker=0),
        PositionDifference(symbol="GOLDM05JAN26FUT", kind="missing_here", expected=0, at_broker=100),
    ]


# --- Bank Nifty synthetic ----------------------------------------------------------------------------------


class Legs:
    """The `on_leg_filled` callback: each fill, and which symbols had been sent to the broker when it came."""

    def __init__(self, fake: FakeOpenAlgo) -> None:
        self.fake = fake
        self.fills: list[LegFill] = []
        self.sent_by_then: list[list[str]] = []

    async def __call__(self, fill: LegFill) -> None:
        self.fills.append(fill)
        self.sent_by_then.append([body["symbol"] for body in self.fake.sent("placeorder")])


@pytest.fixture
def synthetic(fake: FakeOpenAlgo) -> tuple[str, str]:
    fake.set_market(PUT, ltp="400.00", bid="399.80", ask="400.20")
    fake.set_market(CALL, ltp="450.00", bid="449.80", ask="450.20")
    return PUT, CALL


async def test_a_synthetic_sells_the_put_buys_the_call_and_prices_the_entry(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, config: Config, synthetic: tuple[str, str]
) -> None:
    order = synthetic_order(
        config.instrument("BANK_NIFTY"),
        origin="sig-42",
        action="BASE_ENTRY",
        expiry=date(2025, 12, 30),
        strike=52000,
        lots=2,
    )
    assert (order.put_symbol, order.call_symbol, order.quantity) == (PUT, CALL, 60)  # 2 lots × 30 per leg
    legs = Legs(fake)
    entry = await broker.enter_synthetic(order, legs)
    # Put: SELL limit 400.00 − 0.50 = 399.50 ≤ bid 399.80 → 399.80. Call: BUY 450.50 ≥ ask 450.20 → 450.20.
    # Entry = strike + call − put = 52000 + 450.20 − 399.80 = 52050.40.
    assert entry.outcome == "filled"
    assert entry.entry_price == Decimal("52050.40")
    assert entry.put.average_price == Decimal("399.80")
    assert entry.call is not None
    assert entry.call.average_price == Decimal("450.20")
    assert [(f.symbol, f.action, f.quantity) for f in legs.fills] == [(PUT, "SELL", 60), (CALL, "BUY", 60)]
    assert [body["strategy"] for body in fake.sent("placeorder")] == [
        client_order_id("sig-42", "BASE_ENTRY", "1"),
        client_order_id("sig-42", "BASE_ENTRY", "2"),
    ]
    assert reconcile(await broker.client.positions(), {PUT: -60, CALL: 60}) == []


async def test_a_failed_call_reverses_the_put_after_reporting_it(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, config: Config, synthetic: tuple[str, str]
) -> None:
    fake.markets[CALL].reject = "RMS: insufficient margin"
    order = synthetic_order(
        config.instrument("BANK_NIFTY"),
        origin="sig-42",
        action="BASE_ENTRY",
        expiry=date(2025, 12, 30),
        strike=52000,
        lots=2,
    )
    legs = Legs(fake)
    entry = await broker.enter_synthetic(order, legs)
    assert entry.outcome == "reversed"
    assert "RMS: insufficient margin" in entry.reason
    assert entry.call is None
    assert entry.entry_price is None
    assert entry.reversal is not None
    # Sold at the bid 399.80; bought back with a BUY limit 400.50 ≥ ask 400.20, at 400.20.
    assert (entry.put.action, entry.put.average_price) == ("SELL", Decimal("399.80"))
    assert (entry.reversal.action, entry.reversal.symbol, entry.reversal.average_price) == (
        "BUY",
        PUT,
        Decimal("400.20"),
    )
    assert legs.fills == [entry.put, entry.reversal]
    assert legs.sent_by_then[0] == [PUT]  # leg 1 was reported before the call was tried
    assert [body["symbol"] for body in fake.sent("placeorder")] == [PUT, CALL, PUT]
    assert fake.sent("placeorder")[2]["strategy"] == client_order_id("sig-42", "BASE_ENTRY", "1-reverse")
    assert fake.net(PUT) == 0
    assert fake.net(CALL) == 0


async def test_a_call_whose_fate_is_unknown_is_not_reversed(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, config: Config, synthetic: tuple[str, str]
) -> None:
    order = synthetic_order(
        config.instrument("BANK_NIFTY"),
        origin="sig-42",
        action="BASE_ENTRY",
        expiry=date(2025, 12, 30),
        strike=52000,
        lots=1,
    )
    legs = Legs(fake)

    async def then_lose_the_call(fill: LegFill) -> None:
        await legs(fill)
        fake.fail_next("placeorder", "http500")  # the call's placement gets no answer and never arrives

    entry = await broker.enter_synthetic(order, then_lose_the_call)
    assert entry.outcome == "unresolved"
    assert "not re-sent" in entry.reason
    assert entry.reversal is None
    assert [body["symbol"] for body in fake.sent("placeorder")] == [PUT, CALL]  # no reversal, no second call
    assert fake.net(PUT) == -30  # 1 lot × 30: still short, for reconciliation to settle


async def test_a_failed_reversal_leaves_the_entry_unhedged(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, config: Config, synthetic: tuple[str, str]
) -> None:
    fake.markets[CALL].reject = "RMS: insufficient margin"
    order = synthetic_order(
        config.instrument("BANK_NIFTY"),
        origin="sig-42",
        action="BASE_ENTRY",
        expiry=date(2025, 12, 30),
        strike=52000,
        lots=1,
    )

    async def then_block_the_put(fill: LegFill) -> None:
        fake.markets[PUT].reject = "Exchange: price band"

    entry = await broker.enter_synthetic(order, then_block_the_put)
    assert entry.outcome == "unhedged"
    assert "price band" in entry.reason
    assert "insufficient margin" in entry.reason
    assert fake.net(PUT) == -30


async def test_a_part_filled_call_is_reported_and_not_reversed(
    fake: FakeOpenAlgo, broker: OpenAlgoBroker, config: Config, synthetic: tuple[str, str]
) -> None:
    fake.markets[CALL].ask = Decimal("460.00")  # the call limit (450.50, stepped to 450.80) never reaches it
    fake.markets[CALL].partial_fill, fake.markets[CALL].reject_market = 20, "Market orders are blocked"
    order = synthetic_order(
        config.instrument("BANK_NIFTY"),
        origin="sig-42",
        action="BASE_ENTRY",
        expiry=date(2025, 12, 30),
        strike=52000,
        lots=2,
    )
    legs = Legs(fake)
    entry = await broker.enter_synthetic(order, legs)
    assert entry.outcome == "unresolved"
    assert entry.reversal is None
    assert entry.call is not None
    assert (entry.call.quantity, entry.call.average_price) == (20, Decimal("450.50"))  # 20 of 60 at the first limit
    assert legs.fills == [entry.put, entry.call]  # the part was reported too, so it is persisted
    assert [(body["symbol"], body["pricetype"]) for body in fake.sent("placeorder")] == [
        (PUT, "LIMIT"),
        (CALL, "LIMIT"),
        (CALL, "MARKET"),
    ]  # refused market; the put is not bought back
    assert (fake.net(PUT), fake.net(CALL)) == (-60, 20)
