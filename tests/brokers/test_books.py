"""The order book and trade book shared by the orders a desk works at once (basso.brokers.openalgo.BrokerBooks), against
the fake OpenAlgo over real HTTP: a lost placement is still found and never sent again when the order book was read
once for several placements, none of our own orders is taken for a lost one, matching placements go one at a time,
and orders finishing together share one trade book read that was sent after they asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from basso.brokers.openalgo import (
    BrokerBooks,
    BrokerError,
    OpenAlgoBroker,
    OpenAlgoClient,
    OrderOutcomeUnknown,
)
from tests.brokers.fake_openalgo import FakeOpenAlgo
from tests.brokers.test_openalgo import POLICY, PUT, Sleeps, leg

FRESH_S = 3600.0  # long enough that nothing here reads the order book again for its age


@pytest.fixture(autouse=True)
def put_market(fake: FakeOpenAlgo) -> None:
    fake.set_market(PUT, ltp="250.00", bid="249.90", ask="250.10")


@pytest.fixture
async def books(client: OpenAlgoClient) -> AsyncIterator[BrokerBooks]:
    shared = BrokerBooks(client, fresh_s=FRESH_S)
    yield shared
    await shared.close()


def broker(client: OpenAlgoClient, books: BrokerBooks) -> OpenAlgoBroker:
    return OpenAlgoBroker(client, POLICY, sleep=Sleeps(), books=books)


async def test_placements_share_one_order_book_read_and_a_lost_one_is_still_found_not_resent(
    fake: FakeOpenAlgo, client: OpenAlgoClient, books: BrokerBooks
) -> None:
    earlier = await client.place(
        leg(PUT, "SELL", 60), strategy="by-hand", pricetype="LIMIT", quantity=60, price=Decimal("249.50")
    )  # identical to ours, placed at the broker before the snapshot
    first = await broker(client, books).trade_leg(leg(PUT, "SELL", 60, name="1"))
    fake.fail_next("placeorder", "drop", after_processing=True)  # the second is placed; its reply never arrives
    second = await broker(client, books).trade_leg(leg(PUT, "SELL", 60, name="2"))
    hand, ours_1, ours_2 = fake.orders
    assert hand == earlier
    assert (first.broker_order_id, second.broker_order_id) == (ours_1, ours_2)
    assert (second.quantity, second.average_price) == (60, Decimal("249.90"))
    # Three orders at the broker, each sent once: the one by hand and our two (the second was never sent again).
    assert len(fake.sent("placeorder")) == 3
    # One read before the first placement served the second too; the second read is the search for the lost one.
    assert len(fake.sent("orderbook")) == 2


async def test_an_earlier_order_of_ours_is_never_taken_for_a_lost_one_that_never_arrived(
    fake: FakeOpenAlgo, client: OpenAlgoClient, books: BrokerBooks
) -> None:
    # Our first order is placed after the order book was read (it is not in the snapshot); the second, identical,
    # never reaches the broker. The only matching order the broker holds is our first: it must not be adopted.
    first = await broker(client, books).trade_leg(leg(PUT, "SELL", 60, name="1"))
    fake.fail_next("placeorder", "http500")  # refused before doing anything
    with pytest.raises(OrderOutcomeUnknown, match="not re-sent"):
        await broker(client, books).trade_leg(leg(PUT, "SELL", 60, name="2"))
    assert list(fake.orders) == [first.broker_order_id]
    assert len(fake.sent("placeorder")) == 2  # each once
    assert len(fake.sent("orderbook")) == 1 + POLICY.resolve_checks  # the snapshot, then the three searches


async def test_matching_placements_go_one_at_a_time(fake: FakeOpenAlgo, client: OpenAlgoClient) -> None:
    # The first placement's reply is lost (the fake drops it after placing); the second, identical, waits until the
    # first has been found in the order book, so it can never be taken for the first (nor the first for it).
    books = BrokerBooks(client, fresh_s=FRESH_S)
    fake.fail_next("placeorder", "drop", after_processing=True)
    try:
        one, two = await asyncio.gather(
            broker(client, books).trade_leg(leg(PUT, "SELL", 60, name="1")),
            broker(client, books).trade_leg(leg(PUT, "SELL", 60, name="2")),
        )
    finally:
        await books.close()
    first, second = fake.orders
    assert (one.broker_order_id, two.broker_order_id) == (first, second)
    calls = [r.endpoint for r in fake.requests if r.endpoint in ("placeorder", "orderbook")]
    # The snapshot, the first placement, the search that finds it, and only then the second placement.
    assert calls == ["orderbook", "placeorder", "orderbook", "placeorder"]


async def test_orders_finishing_together_share_one_trade_book_read(
    fake: FakeOpenAlgo, client: OpenAlgoClient, books: BrokerBooks
) -> None:
    one = await client.place(leg(PUT, "SELL", 60), strategy="a", pricetype="MARKET", quantity=60)
    two = await client.place(leg(PUT, "SELL", 30), strategy="b", pricetype="MARKET", quantity=30)
    reads = len(fake.sent("tradebook"))
    trades_one, trades_two = await asyncio.gather(books.trades((one,)), books.trades((two,)))
    assert len(fake.sent("tradebook")) == reads + 1
    # MARKET SELLs fill at the bid, 249.90.
    assert [(t.orderid, t.quantity, t.average_price) for t in trades_one] == [(one, 60, Decimal("249.9"))]
    assert [(t.orderid, t.quantity, t.average_price) for t in trades_two] == [(two, 30, Decimal("249.9"))]


async def test_a_trade_book_read_sent_before_an_order_filled_does_not_answer_for_it(
    fake: FakeOpenAlgo, client: OpenAlgoClient, books: BrokerBooks
) -> None:
    first = asyncio.create_task(books.trades(("none-yet",)))
    # Asked once that read is out (whether it has been answered yet or not): the answer comes from a read sent after.
    await asyncio.wait_for(fake.arrived("tradebook").wait(), 5)
    late = await client.place(leg(PUT, "SELL", 60), strategy="late", pricetype="MARKET", quantity=60)
    trades = await books.trades((late,))
    assert [(t.orderid, t.quantity) for t in trades] == [(late, 60)]
    assert await first == []
    assert len(fake.sent("tradebook")) == 2


async def test_an_unreadable_trade_book_fails_every_order_waiting_for_it(
    fake: FakeOpenAlgo, client: OpenAlgoClient, books: BrokerBooks
) -> None:
    fake.fail_next("tradebook", "http500")
    results = await asyncio.gather(books.trades(("a",)), books.trades(("b",)), return_exceptions=True)
    assert [type(r) for r in results] == [type(results[0])] * 2
    assert all(isinstance(r, BrokerError) and "HTTP 500" in str(r) for r in results)
    assert len(fake.sent("tradebook")) == 1
    assert await books.trades(("a",)) == []  # the next read is a new one


async def test_trade_book_reads_keep_their_spacing_and_who_asks_meanwhile_shares_the_next(
    fake: FakeOpenAlgo, client: OpenAlgoClient
) -> None:
    spaced = BrokerBooks(client, fresh_s=FRESH_S, trades_every_s=0.2)
    try:
        one = await client.place(leg(PUT, "SELL", 60), strategy="a", pricetype="MARKET", quantity=60)
        assert [t.orderid for t in await spaced.trades((one,))] == [one]  # the first read goes at once
        # Three orders finishing one after another right after it: one read answers them all, 0.2 s after the first.
        finishing = [
            await client.place(leg(PUT, "SELL", 10), strategy=name, pricetype="MARKET", quantity=10)
            for name in ("b", "c", "d")
        ]
        answers = await asyncio.gather(*(spaced.trades((orderid,)) for orderid in finishing))
        assert [[t.orderid for t in trades] for trades in answers] == [[orderid] for orderid in finishing]
        reads = [r.at for r in fake.requests if r.endpoint == "tradebook"]
        assert len(reads) == 2
        assert reads[1] - reads[0] >= 0.2
    finally:
        await spaced.close()
