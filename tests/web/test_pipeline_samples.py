"""The sample payloads end to end: real HTTP in, real PostgreSQL, processing by the real pipeline steps.

Hand-worked expectations (docs/rules.md §3, §5, §6; equity ₹50 L, BN point value 30, commission 0.05 % per side):
* BASE_ENTRY BN 52,000 / stop 51,650 / ATR 350 / ER 0.82: Lot-R = 50,00,000 × 0.5 % ÷ (350 × 30) × 0.82
  = 1.952, Lot-V = 25,000 ÷ 10,500 = 2.381, Lot-M = 30,00,000 ÷ 2,70,000 = 11.11 ⇒ 1 lot, risk-limited.
  Entry commission = 52,000 × 1 × 30 × 0.0005 = ₹780.
* PYRAMID Long_2 at 52,200: 1R gate needs 52,200 − 52,000 = 200 > 52,000 − 51,650 = 350: blocked.
* EXIT Long_1 at 51,600: P&L = (51,600 − 52,000) × 1 × 30 = −₹12,000; commission 51,600 × 30 × 0.0005 = ₹774.
  Closed equity = 50,00,000 − 780 − 12,000 − 774 = ₹49,86,446.
* EXIT Long_2: not open ⇒ ignored.
"""

from __future__ import annotations

from decimal import Decimal

import orjson

from basso.store.book import load_book
from tests.web.conftest import Trading
from tests.web.test_webhook import payload


async def send(trading: Trading, body: dict[str, object]) -> dict[str, object]:
    """Post `body`, wait for its outcome, and read it back through the API."""
    webhook = trading.webhook
    settled = len(trading.outcomes.committed)
    status, reply = await webhook.post(orjson.dumps(body))
    assert status == 200, reply
    # Settled: decided and, on the paper broker, filled (its orders' fills come after its outcome is stored).
    await trading.outcomes.wait_for(settled + 1)
    _, stored = await webhook.get(f"/api/signals/{reply['signal_id']}")
    assert isinstance(stored, dict)
    return stored


async def test_the_samples_size_gate_exit_and_balance_the_ledger(trading: Trading) -> None:
    webhook = trading.webhook
    base = await send(trading, payload("BASE_ENTRY_BANK_NIFTY"))
    assert base["status"] == "executed"
    decision = base["decision"]
    assert isinstance(decision, dict)
    assert (decision["lots"], decision["limiter"]) == (1, "risk")
    assert (round(decision["lot_r"], 3), round(decision["lot_v"], 3), round(decision["lot_m"], 2)) == (
        1.952,
        2.381,
        11.11,
    )

    pyramid = await send(trading, payload("PYRAMID_BANK_NIFTY_LONG_2", timestamp="2026-11-25T10:30:05"))
    assert pyramid["status"] == "blocked"
    assert "1R" in str(pyramid["reason"])

    exit_1 = await send(trading, payload("EXIT_STOP_LOSS", timestamp="2026-11-25T10:30:10"))
    assert exit_1["status"] == "executed"
    trades = await webhook.services.pool.fetch("SELECT lots, entry_price, exit_price, realised_pnl FROM positions")
    assert [tuple(t) for t in trades] == [(1, Decimal("52000.0000"), Decimal("51600.0000"), Decimal("-12000.00"))]

    exit_2 = await send(trading, payload("EXIT_TRAILING_STOP", timestamp="2026-11-25T10:30:15"))
    assert exit_2["status"] == "ignored"

    _, ledger = await webhook.get("/api/ledger")
    assert isinstance(ledger, dict)
    assert ledger["closed_equity"] == "4986446.00"
    amounts = sorted(Decimal(e["amount"]) for e in ledger["entries"])
    assert amounts == [Decimal("-12000.00"), Decimal("-780.00"), Decimal("-774.00"), Decimal("5000000.00")]
    book = await load_book(webhook.services.pool, webhook.services.config)
    assert book.layers == ()
    assert book.closed_equity == Decimal("4986446.00")


async def test_a_duplicate_changes_nothing_after_processing(trading: Trading) -> None:
    webhook = trading.webhook
    await send(trading, payload("BASE_ENTRY_BANK_NIFTY"))
    status, reply = await webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY")))
    assert (status, reply["status"]) == (200, "duplicate")
    await trading.outcomes.wait_until_none_pending(webhook.services.pool)
    assert await webhook.services.pool.fetchval("SELECT count(*) FROM positions") == 1
    assert await webhook.services.pool.fetchval("SELECT count(*) FROM orders") == 1
