"""Marks, the price collar and late bars through the real webhook and pipeline (docs/rules.md §2, §9): every valid
signal's price marks its instrument (an exit's too), a rejected one changes nothing, an entry far from the
latest mark is refused and alerted, a bar far from it is applied and alerted, and a late bar is ignored."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from basso.rules.decisions import decide
from basso.rules.signals import MarketData
from basso.store.book import load_book
from basso.timeutil import IST
from tests.web.conftest import SECRET, Trading
from tests.web.test_drawdown import ENTRY, gold, status


async def mark_of(trading: Trading, instrument: str) -> Decimal:
    price: Decimal = await trading.webhook.services.pool.fetchval(
        "SELECT price FROM instrument_marks WHERE instrument = $1", instrument
    )
    return price


async def alerts(trading: Trading, kind: str) -> list[tuple[str, str | None, str]]:
    rows = await trading.webhook.services.pool.fetch(
        "SELECT level, instrument, message FROM alerts WHERE kind = $1 ORDER BY id", kind
    )
    return [(r["level"], r["instrument"], r["message"]) for r in rows]


def bank_nifty_entry(at: str, price: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": "BASE_ENTRY",
        "instrument": "BANK_NIFTY",
        "position": "Long_1",
        "price": price,
        "stop": 51_650,
        "atr": 350,
        "er": 0.82,
        "lots": 1,
        "timestamp": f"2026-11-25T{at}",
        "secret": SECRET,
        **fields,
    }


async def test_a_rejected_signal_does_not_mark_the_instrument(trading: Trading) -> None:
    # docs/rules.md §3's vector: ₹50 L, Lot-R = 50 L × 0.5 % × 0.82 ÷ (350 × 30) = 1.95 ⇒ 1 lot at 52,000, commission
    # 52,000 × 30 × 0.05 % = ₹780, so closed and blended equity are ₹49,99,220 with nothing unrealised.
    assert await trading.outcome(bank_nifty_entry("10:26:00", 52_000)) == ("executed", "1 lot, risk-limited")
    # A second BASE_ENTRY while Long_1 is open is invalid for the state: rejected, and it changes nothing. Had
    # it marked Bank Nifty at 60,000, Long_1 would show (60,000 − 52,000) × 30 = ₹2,40,000 unrealised.
    assert await trading.outcome(bank_nifty_entry("10:27:00", 60_000)) == (
        "rejected",
        "BANK_NIFTY Long_1 is already open",
    )
    assert await mark_of(trading, "BANK_NIFTY") == Decimal("52000.0000")
    shown = await status(trading.webhook)
    assert (shown["unrealised_pnl"], shown["equity"]["blended"], shown["drawdown"]["peak"]) == (
        "0.00",
        "4999220.00",
        "5000000.00",
    )


async def test_an_exit_price_marks_the_layers_it_leaves_open(trading: Trading) -> None:
    assert await trading.outcome(ENTRY) == ("executed", "10 lots, volatility-limited")  # see test_drawdown
    # Pyramid at 78,700 (stop 78,600), marked there: blended E = 49,96,075 + 0.5 × 200 × 10 × 10 = 50,06,075.
    # 1R 200 > 100, spacing 200 ≥ 50, profit ₹20,000 > 0. A = (0.6 E − 10.5 L) ÷ 1.05 L = 18.6;
    # B = 10 × 0.5 = 5; C = 0.5 × (20,000 − 100 × 10 × 10) ÷ (100 × 10) = 5; D = (0.12 E − 10,000) ÷ 1,000 =
    # 590.7 ⇒ 5 lots, discipline-limited (B before C on a tie); commission 78,700 × 5 × 10 × 0.05 % = ₹1,967.50.
    pyramid = gold("PYRAMID", "10:27:00", position="Long_2", price=78_700, stop=78_600, atr=100, er=0.9, lots=1)
    assert await trading.outcome(pyramid) == ("executed", "5 lots, discipline-limited")
    exit_long_2 = gold("EXIT", "10:28:00", position="Long_2", price=78_900, reason="take profit")
    assert await trading.outcome(exit_long_2) == ("executed", "closed Long_2: take profit")
    # The exit's 78,900 marks Long_1: (78,900 − 78,500) × 10 × 10 = ₹40,000 unrealised (not the ₹20,000 of the
    # pyramid's 78,700). Closed: 49,96,075 − 1,967.50 + (78,900 − 78,700) × 5 × 10 − 78,900 × 50 × 0.05 %
    # = 49,96,075 − 1,967.50 + 10,000 − 1,972.50 = ₹50,02,135; blended + 20,000 = ₹50,22,135.
    assert await mark_of(trading, "GOLD_MINI") == Decimal("78900.0000")
    shown = await status(trading.webhook)
    assert (shown["unrealised_pnl"], shown["equity"]["closed"], shown["equity"]["blended"]) == (
        "40000.00",
        "5002135.00",
        "5022135.00",
    )


async def test_an_entry_outside_the_price_collar_is_rejected_and_alerted(trading: Trading) -> None:
    assert (await trading.outcome(ENTRY))[0] == "executed"  # Gold marked at 78,500
    # 87,000 is (87,000 − 78,500) ÷ 78,500 = 10.83 % from the mark: beyond the 10 % collar.
    far = gold("PYRAMID", "10:27:00", position="Long_2", price=87_000, stop=86_900, atr=100, er=0.9, lots=1)
    reason = "rejected: price 87000 is 10.83% from the latest mark 78500, outside the 10% price collar"
    assert await trading.outcome(far) == ("rejected", reason)
    assert await mark_of(trading, "GOLD_MINI") == Decimal("78500.0000")  # a rejected signal marks nothing
    assert await trading.webhook.services.pool.fetchval("SELECT count(*) FROM positions") == 1
    # A bar at 86,400 is 10.06 % away: applied all the same (bars are never rejected for their price), and
    # alerted. It trails Long_1's stop to 86,400 − 2 × 100 = 86,200.
    bar = gold("MARKET_DATA", "10:28:00", price=86_400, atr=100)
    assert await trading.outcome(bar) == ("executed", "bar applied: 1 stop(s) trailed")
    assert await mark_of(trading, "GOLD_MINI") == Decimal("86400.0000")
    assert await trading.webhook.services.pool.fetchval("SELECT current_stop FROM positions") == Decimal("86200.0000")
    assert await alerts(trading, "price_collar") == [
        ("warning", "GOLD_MINI", f"PYRAMID GOLD_MINI Long_2 {reason}"),
        (
            "warning",
            "GOLD_MINI",
            "MARKET_DATA GOLD_MINI applied, but price 86400 is 10.06% from the latest mark "
            "78500, outside the 10% price collar",
        ),
    ]


async def test_a_bar_not_newer_than_the_latest_applied_changes_nothing(trading: Trading) -> None:
    assert (await trading.outcome(ENTRY))[0] == "executed"  # Gold Long_1, stop 78,400
    bar = gold("MARKET_DATA", "10:28:00", price=78_600, atr=100)
    assert await trading.outcome(bar) == ("executed", "bar applied: 1 stop(s) trailed")  # highest 78,600
    # A resend stamped earlier, and another stamped the same second (another signal_id, so not a duplicate):
    # both at 70,000, far below the stop. Applied, either would close Long_1; late, they are ignored.
    late = "late bar: stamped {}, not after the latest bar applied (2026-11-25T10:28:00+05:30): changes nothing"
    earlier = gold("MARKET_DATA", "10:27:30", price=70_000, atr=100)
    assert await trading.outcome(earlier) == ("ignored", late.format("2026-11-25T10:27:30+05:30"))
    same = gold("MARKET_DATA", "10:28:00", price=70_000, atr=100, signal_id="resend-of-10-28")
    assert await trading.outcome(same) == ("ignored", late.format("2026-11-25T10:28:00+05:30"))
    assert await mark_of(trading, "GOLD_MINI") == Decimal("78600.0000")
    open_layer = await trading.webhook.services.pool.fetchrow(
        "SELECT status, current_stop, highest_close FROM positions"
    )
    assert open_layer is not None
    assert tuple(open_layer) == ("open", Decimal("78400.0000"), Decimal("78600.0000"))
    # The latest bar's stamp is a stored fact: a book rebuilt after a restart ignores the same resends.
    rebuilt = await load_book(trading.webhook.services.pool, trading.webhook.services.config)
    assert rebuilt.bar_at["GOLD_MINI"] == datetime(2026, 11, 25, 10, 28, tzinfo=IST)
    assert (
        decide(
            MarketData(
                instrument="GOLD_MINI", timestamp=datetime(2026, 11, 25, 10, 28, tzinfo=IST), price=70_000, atr=100
            ),
            rebuilt,
            trading.webhook.services.config,
        ).outcome
        == "ignored"
    )
    # The next bar, newer than 10:28, is applied as usual.
    assert (await trading.outcome(gold("MARKET_DATA", "10:29:00", price=78_650, atr=100)))[0] == "executed"
    assert await mark_of(trading, "GOLD_MINI") == Decimal("78650.0000")
