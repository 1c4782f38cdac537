"""The Bank Nifty synthetic through the order desk, against the fake OpenAlgo on a real socket and real PostgreSQL
(docs/rules.md §8): SELL the ATM put, BUY the ATM call, both legs one layer; `partial` as soon as a leg fills; the
put bought back if the call fails; the exit buys the put back and sells the call; an order interrupted after it
was sent is never sent again, it is `unknown` with a critical alert. Every figure is worked out by hand from the
shipped configuration (lot size 30, tick 0.05, strike step 500, commission 0.05 % of notional per side)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from basso.config import Config
from basso.rules.contracts import contract_now, option_symbol
from tests.brokers.desk_support import Desk, desk_on
from tests.store.test_outcomes import AT, ENTRY

# The Bank Nifty entry of tests/store/test_outcomes.py at ₹50 L: price 52,000, stop 51,650, ATR 350, ER 0.82.
# Lot-R = 50,00,000 × 0.5 % × 0.82 ÷ (350 × 30) = 20,500 ÷ 10,500 = 1.95; Lot-V = 50,00,000 × 0.5 % ÷ (350 × 30)
# = 2.38; Lot-M = 50,00,000 × 60 % ÷ 2,70,000 = 11.1 ⇒ 1 lot, 30 units a leg, at the ATM strike 52,000.
STRIKE = 52_000


def legs(config: Config) -> tuple[str, str]:
    """The put's and the call's symbols at the ATM strike in the contract the entry goes into."""
    expiry = contract_now(config, "BANK_NIFTY", AT).expiry
    return option_symbol("BANKNIFTY", expiry, STRIKE, "PE"), option_symbol("BANKNIFTY", expiry, STRIKE, "CE")


@pytest.fixture
async def desk(migrated_database: str, config: Config) -> AsyncIterator[Desk]:
    async with desk_on(migrated_database, config, AT) as desk:
        await desk.decide(ENTRY)
        put, call = legs(config)
        desk.fake.set_market(put, lot_size=30, tick="0.05", ltp="400")
        desk.fake.set_market(call, lot_size=30, tick="0.05", ltp="450")
        yield desk


async def test_an_entry_sells_the_put_then_buys_the_call_and_opens_the_layer_at_the_synthetic_price(
    desk: Desk,
) -> None:
    put, call = legs(desk.config)
    await desk.work()
    placed = [(b["symbol"], b["action"], b["quantity"]) for b in desk.fake.sent("placeorder")]
    assert placed == [(put, "SELL", "30"), (call, "BUY", "30")]
    assert (desk.fake.net(put), desk.fake.net(call)) == (-30, 30)
    layer = await desk.pool.fetchrow("SELECT status, lots, entry_price, strike FROM positions")
    assert layer is not None
    # Entry = strike + call premium − put premium = 52,000 + 450 − 400 = 52,050.
    assert (layer["status"], layer["lots"], layer["entry_price"], layer["strike"]) == (
        "open",
        1,
        Decimal("52050.0000"),
        52_000,
    )
    # Commission 52,050 × 30 × 0.05 % = 780.75.
    ledger = await desk.pool.fetch("SELECT kind, amount FROM ledger WHERE kind <> 'deposit'")
    assert [(r["kind"], r["amount"]) for r in ledger] == [("commission", Decimal("-780.75"))]
    order = await desk.pool.fetchrow("SELECT status, filled_lots, fill_price FROM orders")
    assert order is not None
    assert (order["status"], order["filled_lots"], order["fill_price"]) == ("filled", 1, Decimal("52050.0000"))


async def test_a_failed_call_buys_the_put_back_and_fails_the_signal_with_the_brokers_words(desk: Desk) -> None:
    put, call = legs(desk.config)
    desk.fake.set_market(call, lot_size=30, tick="0.05", ltp="450").reject = "RMS: option buying blocked"
    await desk.work()
    placed = [(b["symbol"], b["action"]) for b in desk.fake.sent("placeorder")]
    assert placed == [(put, "SELL"), (call, "BUY"), (put, "BUY")]
    assert (desk.fake.net(put), desk.fake.net(call)) == (0, 0)  # nothing left at the broker
    layer = await desk.pool.fetchrow("SELECT status, lots, strike FROM positions")
    assert layer is not None
    assert (layer["status"], layer["lots"], layer["strike"]) == ("closed", 0, 52_000)
    signal = await desk.pool.fetchrow("SELECT outcome, reason FROM signals")
    assert signal is not None
    assert signal["outcome"] == "failed"
    assert signal["reason"] == (
        "broker: call leg failed (OpenAlgo placeorder: HTTP 400: RMS: option buying blocked); the put was bought back"
    )
    # Sold at 400 and bought back at 400: nothing made or lost on the put, no commission on a layer never held.
    assert await desk.pool.fetchval("SELECT count(*) FROM ledger WHERE kind <> 'deposit'") == 0


async def test_an_exit_buys_the_put_back_and_sells_the_call_and_books_the_synthetic_pnl(desk: Desk) -> None:
    put, call = legs(desk.config)
    await desk.work()
    desk.fake.set_market(put, lot_size=30, tick="0.05", ltp="150")
    desk.fake.set_market(call, lot_size=30, tick="0.05", ltp="700")
    await desk.decide(
        {
            "type": "EXIT",
            "instrument": "BANK_NIFTY",
            "position": "Long_1",
            "price": 52_550,
            "reason": "trend over",
            "timestamp": "2026-11-25T11:30:00",
        }
    )
    await desk.work()
    placed = [(b["symbol"], b["action"]) for b in desk.fake.sent("placeorder")]
    assert placed[2:] == [(put, "BUY"), (call, "SELL")]
    assert (desk.fake.net(put), desk.fake.net(call)) == (0, 0)
    layer = await desk.pool.fetchrow("SELECT status, exit_price, realised_pnl FROM positions")
    assert layer is not None
    # Exit = 52,000 + 700 − 150 = 52,550; P&L (52,550 − 52,050) × 30 = 15,000; exit commission 52,550 × 30 ×
    # 0.05 % = 788.25.
    assert (layer["status"], layer["exit_price"], layer["realised_pnl"]) == (
        "closed",
        Decimal("52550.0000"),
        Decimal("15000.00"),
    )
    ledger = await desk.pool.fetch("SELECT kind, amount FROM ledger WHERE kind <> 'deposit' ORDER BY id")
    assert [(r["kind"], r["amount"]) for r in ledger] == [
        ("commission", Decimal("-780.75")),
        ("commission", Decimal("-788.25")),
        ("realised_pnl", Decimal("15000.00")),
    ]


async def test_an_entry_interrupted_after_it_was_sent_is_unknown_with_an_alert_never_sent_again(desk: Desk) -> None:
    # A crash after the order was recorded `sent`: which legs filled is not known here.
    await desk.pool.execute("UPDATE orders SET status = 'sent'")
    await desk.work()
    assert desk.fake.sent("placeorder") == []
    order = await desk.pool.fetchrow("SELECT status, checks FROM orders")
    assert order is not None
    assert (order["status"], order["checks"]) == ("unknown", desk.config.broker.unknown_checks)
    # Besides the alert of the test leader's own start (tests/leadership/test_alerts.py):
    alerts = await desk.pool.fetch("SELECT level, kind, instrument FROM alerts WHERE kind NOT LIKE 'leadership%'")
    assert [(a["level"], a["kind"], a["instrument"]) for a in alerts] == [("critical", "order_unknown", "BANK_NIFTY")]
