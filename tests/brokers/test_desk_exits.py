"""An exit decided while its layer's entry is still working at the broker (docs/rules.md §8: the pipeline never
waits on a fill, so the next signal may close a layer that is still opening): what has not filled of the entry is
cancelled (or never sent), what has is kept, and the exit sells exactly that — never a lot more, which would be a
short position nobody asked for. Gold Mini through the order desk, the fake OpenAlgo on a real socket and real PostgreSQL; every figure
worked out by hand from the shipped configuration (tick 1, 100 g a lot, ₹10 a point a lot, LIMIT at LTP ± 2 ticks
moved 2 ticks a modification, commission 0.05 % of notional per side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from basso.config import Config
from basso.rules.contracts import contract_now
from tests.brokers.desk_support import Desk, desk_on

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 10:30 IST
# docs/rules.md §3's vector: ₹50 L, price 78,500, stop 77,800, ATR 450 ⇒ 2 lots (volatility-limited), 200 g.
ENTRY = {
    "type": "BASE_ENTRY",
    "instrument": "GOLD_MINI",
    "position": "Long_1",
    "price": 78_500,
    "stop": 77_800,
    "atr": 450,
    "er": 0.85,
    "lots": 2,
    "supertrend": 77_800,
    "timestamp": "2026-11-25T10:30:00",
}
EXIT = {
    "type": "EXIT",
    "instrument": "GOLD_MINI",
    "position": "Long_1",
    "price": 78_500,
    "reason": "trend over",
    "timestamp": "2026-11-25T10:31:00",
}


@pytest.fixture
async def desk(migrated_database: str, config: Config) -> AsyncIterator[Desk]:
    async with desk_on(migrated_database, config, AT) as desk:
        yield desk


def symbol(config: Config) -> str:
    return contract_now(config, "GOLD_MINI", AT).future_symbol


def requests(desk: Desk) -> list[tuple[str, Any, Any]]:
    """Every order call, in the order the broker received them: (endpoint, action, price)."""
    return [
        (r.endpoint, r.body.get("action"), r.body.get("price"))
        for r in desk.fake.requests
        if r.endpoint in ("placeorder", "modifyorder", "cancelorder")
    ]


async def test_an_exit_decided_while_the_entry_works_cancels_its_unfilled_rest_and_sells_what_it_bought(
    desk: Desk,
) -> None:
    gold = symbol(desk.config)
    # The ask stands 20 above the LTP, so BUY LIMIT 200 g at 78,502 does not cross; the book fills 100 g of it at
    # its own price when placed. The exit is decided while the desk waits to check the BUY a first time.
    market = desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500", bid="78480", ask="78520")
    market.partial_fill = 100
    await desk.decide(ENTRY)
    desk.meanwhile.append(lambda: desk.decide(EXIT))
    await (
        desk.work()
    )  # the BUY: placed, checked (half filled, the layer now closing), cancelled; no MARKET for the rest
    await desk.work()  # the SELL of the 100 g held: LIMIT at 78,498, filled as placed by the same book's partial fill
    assert requests(desk) == [
        ("placeorder", "BUY", "78502.0"),
        ("cancelorder", None, None),
        ("placeorder", "SELL", "78498.0"),
    ]
    assert [b["quantity"] for b in desk.fake.sent("placeorder")] == ["200", "100"]
    assert desk.fake.net(gold) == 0
    orders = await desk.pool.fetch("SELECT side, lots, filled_lots, status, reason FROM orders ORDER BY id")
    assert [(o["side"], o["lots"], o["filled_lots"], o["status"], o["reason"]) for o in orders] == [
        ("BUY", 2, 1, "cancelled", "withdrawn: the layer's exit came first; 100 of 200 filled"),
        ("SELL", 2, 1, "cancelled", "the entry filled 1 lots only"),
    ]
    layers = await desk.pool.fetch("SELECT status, lots, entry_price, exit_price, realised_pnl FROM positions")
    # Bought 1 lot at 78,502, sold it at 78,498: (78,498 − 78,502) × 1 × 10 = −40; nothing held again.
    assert [tuple(x) for x in layers] == [
        ("closed", 1, Decimal("78502.0000"), Decimal("78498.0000"), Decimal("-40.00"))
    ]
    # Commissions 78,502 × 1 × 10 × 0.05 % = 392.51 and 78,498 × 10 × 0.05 % = 392.49.
    ledger = await desk.pool.fetch("SELECT kind, amount FROM ledger WHERE kind <> 'deposit' ORDER BY id")
    assert [(r["kind"], r["amount"]) for r in ledger] == [
        ("commission", Decimal("-392.51")),
        ("commission", Decimal("-392.49")),
        ("realised_pnl", Decimal("-40.00")),
    ]
    # The entry did fill (in part): its signal stays executed.
    outcomes = await desk.pool.fetch("SELECT outcome FROM signals ORDER BY id")
    assert [r["outcome"] for r in outcomes] == ["executed", "executed"]


async def test_an_entry_withdrawn_before_anything_filled_leaves_nothing_to_sell(desk: Desk) -> None:
    gold = symbol(desk.config)
    # The BUY at 78,502 would fill only on its second modification; the exit is decided before its first check.
    market = desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500", bid="78480", ask="78520")
    market.fill_after_modifications = 2
    await desk.decide(ENTRY)
    desk.meanwhile.append(lambda: desk.decide(EXIT))
    await desk.work()
    await desk.work()
    assert requests(desk) == [("placeorder", "BUY", "78502.0"), ("cancelorder", None, None)]  # no modify, no SELL
    assert desk.fake.net(gold) == 0
    orders = await desk.pool.fetch("SELECT side, filled_lots, status, reason FROM orders ORDER BY id")
    assert [(o["side"], o["filled_lots"], o["status"], o["reason"]) for o in orders] == [
        ("BUY", 0, "cancelled", "withdrawn: the layer's exit came first; 0 of 200 filled"),
        ("SELL", 0, "cancelled", "nothing to sell: the layer's entry filled nothing"),
    ]
    layers = await desk.pool.fetch("SELECT status, lots FROM positions")
    assert [(x["status"], x["lots"]) for x in layers] == [("closed", 0)]
    assert await desk.pool.fetchval("SELECT count(*) FROM ledger WHERE kind <> 'deposit'") == 0
    entry = await desk.pool.fetchrow("SELECT outcome, reason FROM signals ORDER BY id LIMIT 1")
    assert entry is not None
    assert (entry["outcome"], entry["reason"]) == (
        "failed",
        "cancelled: withdrawn: the layer's exit came first; 0 of 200 filled",
    )


async def test_an_entry_whose_exit_was_decided_before_it_was_sent_is_never_sent(desk: Desk) -> None:
    gold = symbol(desk.config)
    desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500", bid="78480", ask="78520")
    await desk.decide(ENTRY)
    await desk.decide(EXIT)  # decided against the book that counts the entry working: the layer is closing
    assert await desk.pool.fetchval("SELECT status FROM positions") == "closing"
    await desk.work()
    assert requests(desk) == []
    orders = await desk.pool.fetch("SELECT side, status, reason FROM orders ORDER BY id")
    assert [(o["side"], o["status"], o["reason"]) for o in orders] == [
        ("BUY", "cancelled", "withdrawn unsent: the layer's exit came first"),
        ("SELL", "cancelled", "nothing to sell: the layer's entry filled nothing"),
    ]
    layers = await desk.pool.fetch("SELECT status, lots FROM positions")
    assert [(x["status"], x["lots"]) for x in layers] == [("closed", 0)]
    assert await desk.pool.fetchval("SELECT count(*) FROM ledger WHERE kind <> 'deposit'") == 0


async def test_an_exit_that_waited_for_its_entrys_chase_is_priced_from_the_market_after_it(desk: Desk) -> None:
    gold = symbol(desk.config)
    # The BUY LIMIT 200 g at 78,500 + 2 = 78,502 does not cross the ask (78,520); the book fills 100 g of it at its own
    # price when placed. During its first wait the exit is decided and taken up: it reads the market (78,500) and
    # waits for the entry; then the market falls to 78,400.
    market = desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500", bid="78480", ask="78520")
    market.partial_fill = 100

    async def exit_decided_and_taken_up() -> None:
        await desk.decide(EXIT)
        quoted = desk.fake.arrived("quotes")
        quoted.clear()
        await desk.take_up()
        await asyncio.wait_for(quoted.wait(), 10)  # the exit has asked for the market
        desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78400", bid="78390", ask="78410").partial_fill = 100

    await desk.decide(ENTRY)
    desk.meanwhile.append(exit_decided_and_taken_up)
    await desk.work()
    # The entry's chase: placed, its first check finds the exit decided, so it is cancelled with 100 g filled. The
    # SELL of those 100 g is priced from the market read after that, 78,400 − 2 = 78,398, not from the 78,500 read
    # when the exit was taken up (which would have been 78,498).
    assert requests(desk) == [
        ("placeorder", "BUY", "78502.0"),
        ("cancelorder", None, None),
        ("placeorder", "SELL", "78398.0"),
    ]
    assert desk.fake.net(gold) == 0
