"""Rolls through the running pipeline (real PostgreSQL): the RolloverScanner starts a roll, its steps go through
the SignalReceiver's order, and the position keeps its id with its prices shifted by the roll spread. Every
number is worked out by hand from SPEC §6–§7 and the shipped configuration (commission 0.05 % per side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from basso.config import Instrument
from basso.messages import RollSettled, Scan
from basso.pipeline import Hooks, Pipeline, Runtime
from basso.store.rolls import roll_transitions
from tests.pipeline_support import PROCESSED_AT, Outcomes, solo_leader
from tests.replay import assert_state_equals_replay
from tests.web.conftest import NOW, Webhook
from tests.web.test_webhook import payload

# Friday 27 Nov 2026, 10:30 IST: Gold Mini's December contract (expiry Fri 4 Dec, 7 days away) is inside its
# 8-day roll window; the next contract is GOLDM05JAN27FUT.
ROLL_DAY = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
NEW_PRICES = {"GOLD_MINI": 72_450.0}  # the January contract's quote: a spread of +450 over the 72,000 mark


def quote(instrument: Instrument, _expiry: object, mark: float) -> float:
    return NEW_PRICES.get(instrument.name, mark)


class RollSteps:
    """Counts committed roll steps so a test waits for the n-th without sleeping."""

    def __init__(self) -> None:
        self.steps: list[RollSettled] = []
        self._changed = asyncio.Event()

    def __call__(self, step: RollSettled) -> None:
        self.steps.append(step)
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(20):
            while len(self.steps) < count:
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Rolling:
    webhook: Webhook
    pipeline: Pipeline
    outcomes: Outcomes
    steps: RollSteps


@pytest.fixture
async def rolling(webhook: Webhook) -> AsyncIterator[Rolling]:
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    outcomes, steps = Outcomes(), RollSteps()
    pipeline = Pipeline(pool=pool, config=webhook.services.config, epoch=epoch, wall_clock=lambda: PROCESSED_AT,
                        hooks=Hooks(on_commit=outcomes, on_roll_step=steps), runtime=Runtime(roll_quote=quote))
    webhook.services.wake_processor = pipeline.wake
    await pipeline.start()
    pipeline.open()
    try:
        yield Rolling(webhook, pipeline, outcomes, steps)
    finally:
        await pipeline.stop()


async def post(rolling: Rolling, body: dict[str, Any], count: int) -> None:
    status, reply = await rolling.webhook.post(orjson.dumps(body))
    assert status == 200, reply
    await rolling.outcomes.wait_for(count)


async def test_a_gold_mini_position_is_rolled_with_its_risk_distance_unchanged(rolling: Rolling) -> None:
    pool = rolling.webhook.services.pool
    await post(rolling, payload("BASE_ENTRY_GOLD_MINI"), 1)
    before = await pool.fetchrow("SELECT id, lots, entry_price, initial_stop, current_stop, highest_close, contract,"
                                 " expiry FROM positions")
    assert before is not None
    # The entry at ₹50,00,000: Lot-R = 25,000 ÷ (500 × 10) × 0.75 = 3.75, Lot-V = 10,000 ÷ (500 × 10) = 2.0 ⇒ 2 lots
    # at 72,000, stop 71,500 (the signal's), in the December contract.
    assert (before["lots"], before["entry_price"], before["current_stop"], before["contract"]) == (
        2, Decimal("72000.0000"), Decimal("71500.0000"), "GOLDM04DEC26FUT")
    await rolling.pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=rolling.pipeline.epoch))
    await rolling.steps.wait_for(2)  # close, then open (and done)
    after = await pool.fetchrow("SELECT id, lots, entry_price, initial_stop, current_stop, highest_close, contract,"
                                " expiry, status FROM positions")
    assert after is not None
    # Spread = 72,450 − 72,000 = +450: entry 72,450, both stops 71,950, highest 72,450; the distance to the stop is
    # 72,450 − 71,950 = 500 = 72,000 − 71,500, to the paisa. Same row, same 2 lots, the January contract.
    assert after["id"] == before["id"]
    assert (after["lots"], after["entry_price"], after["initial_stop"], after["current_stop"],
            after["highest_close"], after["contract"], str(after["expiry"]), after["status"]) == (
        2, Decimal("72450.0000"), Decimal("71950.0000"), Decimal("71950.0000"), Decimal("72450.0000"),
        "GOLDM05JAN27FUT", "2027-01-05", "open")
    assert after["entry_price"] - after["current_stop"] == before["entry_price"] - before["current_stop"]
    # The roll's cost: closing 2 lots at 72,000 × 2 × 10 ₹/pt × 0.05 % = ₹720.00; opening at 72,450 × 2 × 10 ×
    # 0.05 % = ₹724.50. Nothing else: the old contract's profit (none here) stays in the shifted entry.
    costs = [r["amount"] for r in await pool.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost' ORDER BY id")]
    assert costs == [Decimal("-720.00"), Decimal("-724.50")]
    orders = [(r["symbol"], r["side"], r["quantity"], r["price"]) for r in await pool.fetch(
        "SELECT symbol, side, quantity, price FROM orders WHERE client_id LIKE 'roll:%' ORDER BY id")]
    # 2 lots = 200 units (lot size 100 g, quoted per 10 g: 10 ₹ per point).
    assert orders == [("GOLDM04DEC26FUT", "SELL", 200, Decimal("72000.0000")),
                      ("GOLDM05JAN27FUT", "BUY", 200, Decimal("72450.0000"))]
    roll_id = await pool.fetchval("SELECT id FROM rolls")
    states = [(a, b) for a, b, _why in await roll_transitions(pool, roll_id)]
    assert states == [(None, "pending"), ("pending", "closing_old"), ("closing_old", "opening_new"),
                      ("opening_new", "done")]
    assert all(why for _a, _b, why in await roll_transitions(pool, roll_id))  # every transition says why
    assert await pool.fetchval("SELECT price FROM instrument_marks WHERE instrument = 'GOLD_MINI'") == Decimal(
        "72450.0000")  # the mark follows the position into the new contract: open P&L does not jump
    await assert_state_equals_replay(pool, rolling.webhook.services.config)
