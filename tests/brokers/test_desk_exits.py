"""An exit decided while its layer's entry is still working at the broker (docs/rules.md §8: the pipeline never
waits on a fill, so the next signal may close a layer that is still opening): the exit is sent only once the entry
is done, and sells exactly what the entry bought — never a lot more, which would be a short position nobody
asked for. Gold Mini through the order desk, the fake OpenAlgo on a real socket and real PostgreSQL; every figure
worked out by hand from the shipped configuration (tick 1, 100 g a lot, ₹10 a point a lot, LIMIT at LTP ± 2 ticks
moved 2 ticks a modification, commission 0.05 % of notional per side)."""

from __future__ import annotations

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


async def test_an_exit_of_a_layer_still_opening_is_sent_once_the_entry_filled_and_sells_what_it_bought(
    desk: Desk,
) -> None:
    gold = symbol(desk.config)
    # The ask stands 20 above the LTP: BUY LIMIT at 78,502 does not cross; the book fills a limit once it has been
    # modified twice (78,502 → 78,504 → 78,506). The SELL is worked the same way: 78,498 → 78,496 → 78,494.
    market = desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500", bid="78480", ask="78520")
    market.fill_after_modifications = 2
    await desk.decide(ENTRY)
    await desk.decide(EXIT)  # decided against the book that counts the entry working: the layer is closing
    assert await desk.pool.fetchval("SELECT status FROM positions") == "closing"
    await desk.work()
    assert requests(desk) == [
        ("placeorder", "BUY", "78502.0"),
        ("modifyorder", "BUY", "78504.0"),
        ("modifyorder", "BUY", "78506.0"),
        ("placeorder", "SELL", "78498.0"),  # only after the BUY filled
        ("modifyorder", "SELL", "78496.0"),
        ("modifyorder", "SELL", "78494.0"),
    ]
    assert desk.fake.net(gold) == 0
    layer = await desk.pool.fetchrow("SELECT status, lots, entry_price, exit_price, realised_pnl FROM positions")
    assert layer is not None
    # Bought 2 lots at 78,506, sold them at 78,494: (78,494 − 78,506) × 2 × 10 = −240.
    assert (layer["status"], layer["lots"], layer["entry_price"], layer["exit_price"], layer["realised_pnl"]) == (
        "closed",
        2,
        Decimal("78506.0000"),
        Decimal("78494.0000"),
        Decimal("-240.00"),
    )
    # Commissions 78,506 × 2 × 10 × 0.05 % = 785.06 and 78,494 × 20 × 0.05 % = 784.94.
    ledger = await desk.pool.fetch("SELECT kind, amount FROM ledger WHERE kind <> 'deposit' ORDER BY id")
    assert [(r["kind"], r["amount"]) for r in ledger] == [
        ("commission", Decimal("-785.06")),
        ("commission", Decimal("-784.94")),
        ("realised_pnl", Decimal("-240.00")),
    ]


async def test_an_entry_that_filled_in_part_is_closed_in_that_part_and_no_more(desk: Desk) -> None:
    gold = symbol(desk.config)
    # The limit fills 100 g (1 lot) at its own 78,502 as placed and no more; the MARKET order for the rest is
    # refused: the entry ends with 1 lot of 2 held.
    market = desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500", bid="78480", ask="78520")
    market.partial_fill = 100
    market.reject_market = "RMS: market orders blocked"
    await desk.decide(ENTRY)
    await desk.decide(EXIT)
    await desk.work()  # the SELL of what is held, 100 g at 78,498, fills as placed (the same book's partial fill)
    sells = [b for b in desk.fake.sent("placeorder") if b["action"] == "SELL"]
    assert [(b["quantity"], b["pricetype"]) for b in sells] == [("100", "LIMIT")]  # 1 lot, not the 2 decided
    assert desk.fake.net(gold) == 0
    orders = await desk.pool.fetch("SELECT side, lots, filled_lots, status FROM orders ORDER BY id")
    assert [(o["side"], o["lots"], o["filled_lots"], o["status"]) for o in orders] == [
        ("BUY", 2, 1, "cancelled"),
        ("SELL", 2, 1, "cancelled"),
    ]
    layers = await desk.pool.fetch("SELECT status, lots, realised_pnl FROM positions ORDER BY id")
    # (78,498 − 78,502) × 1 × 10 = −40; nothing left open, nothing held again.
    assert [(x["status"], x["lots"], x["realised_pnl"]) for x in layers] == [("closed", 1, Decimal("-40.00"))]


async def test_an_exit_of_a_layer_whose_entry_was_rejected_sends_nothing(desk: Desk) -> None:
    gold = symbol(desk.config)
    desk.fake.set_market(gold, lot_size=100, tick="1", ltp="78500").reject = "RMS: Margin Exceeds"
    await desk.decide(ENTRY)
    await desk.decide(EXIT)
    await desk.work()
    assert [b["action"] for b in desk.fake.sent("placeorder")] == ["BUY"]  # refused; no SELL follows
    orders = await desk.pool.fetch("SELECT side, status, reason FROM orders ORDER BY id")
    assert [(o["side"], o["status"], o["reason"]) for o in orders] == [
        ("BUY", "rejected", "HTTP 400: RMS: Margin Exceeds"),
        ("SELL", "cancelled", "nothing to sell: the layer's entry filled nothing"),
    ]
    layers = await desk.pool.fetch("SELECT status, lots FROM positions")
    assert [(x["status"], x["lots"]) for x in layers] == [("closed", 0)]
    assert await desk.pool.fetchval("SELECT count(*) FROM ledger WHERE kind <> 'deposit'") == 0
