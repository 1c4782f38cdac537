"""Before a symbol's first entry of the day the order desk asks OpenAlgo's /symbol for the contract's lot size and
tick: they must be the configuration's, or the quantity and prices Basso sends would mean something else at the
broker (a lot of Gold Mini is 100 g here; a broker whose lot is 1 would read 200 as 200 lots). A mismatch or a
symbol the broker does not know rejects the entry before anything is sent, with a critical alert; a match is
remembered for the day. The fake OpenAlgo on a real socket, real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from basso.config import Config
from basso.rules.contracts import contract_now
from tests.brokers.desk_support import Desk, desk_on
from tests.brokers.test_desk_exits import AT, ENTRY


@pytest.fixture
async def desk(migrated_database: str, config: Config) -> AsyncIterator[Desk]:
    async with desk_on(migrated_database, config, AT) as desk:
        yield desk


def gold(desk: Desk) -> str:
    return contract_now(desk.config, "GOLD_MINI", AT).future_symbol


async def test_a_lot_size_the_broker_does_not_share_rejects_the_entry_unsent_with_an_alert(desk: Desk) -> None:
    symbol = gold(desk)
    desk.fake.set_market(symbol, ltp="78500", lot_size=1, tick="1")  # the broker counts Gold Mini in lots
    await desk.decide(ENTRY)
    await desk.work()
    assert desk.fake.sent("placeorder") == []
    order = await desk.pool.fetchrow("SELECT status, reason FROM orders")
    assert order is not None
    reason = (
        f"{symbol}: the broker's lot size 1 and tick 1 are not the configuration's 100 and 1 "
        "([instruments.GOLD_MINI]): entries on GOLD_MINI wait until they match"
    )
    assert (order["status"], order["reason"]) == ("rejected", reason)
    assert await desk.pool.fetchval("SELECT outcome FROM signals") == "failed"
    alerts = await desk.pool.fetch(
        "SELECT level, kind, instrument, message FROM alerts WHERE kind NOT LIKE 'leadership%'"
    )
    assert [(a["level"], a["kind"], a["instrument"], a["message"]) for a in alerts] == [
        ("critical", "contract_mismatch", "GOLD_MINI", reason)
    ]


async def test_a_symbol_the_broker_does_not_know_rejects_the_entry_unsent(desk: Desk) -> None:
    symbol = gold(desk)
    desk.fake.set_market(symbol, ltp="78500")  # quoted, but not in the broker's master contract
    await desk.decide(ENTRY)
    await desk.work()
    assert desk.fake.sent("placeorder") == []
    reason = await desk.pool.fetchval("SELECT reason FROM orders")
    assert reason == (
        f"OpenAlgo does not know {symbol} on MCX (HTTP 404: Symbol '{symbol}' not found for exchange 'MCX'): "
        "entries on GOLD_MINI wait until they match"
    )


async def test_a_matching_contract_is_checked_once_a_day(desk: Desk) -> None:
    symbol = gold(desk)
    desk.fake.set_market(symbol, ltp="78500", lot_size=100, tick="1")
    await desk.decide(ENTRY)
    await desk.work()
    second = {**ENTRY, "position": "Long_1", "timestamp": "2026-11-25T10:32:00"}
    await desk.decide(
        {
            "type": "EXIT",
            "instrument": "GOLD_MINI",
            "position": "ALL",
            "price": 78500,
            "reason": "trend over",
            "timestamp": "2026-11-25T10:31:00",
        }
    )
    await desk.work()
    await desk.decide(second)
    await desk.work()
    assert [b["action"] for b in desk.fake.sent("placeorder")] == ["BUY", "SELL", "BUY"]
    assert len(desk.fake.sent("symbol")) == 1  # the first entry's check holds for the day
