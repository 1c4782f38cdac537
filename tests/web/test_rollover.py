"""Rolls through the running pipeline (real PostgreSQL): the RolloverScanner starts a roll, its steps go through
the SignalReceiver's order, and the position keeps its id with its prices shifted by the roll spread. Every
number is worked out by hand from docs/rules.md §6–§7 and the shipped configuration (commission 0.05 % per side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from basso.actors.base import ActorRef
from basso.config import Instrument
from basso.messages import RollSettled, Scan
from basso.pipeline import Hooks, Pipeline, Runtime
from basso.store.book import load_book
from basso.store.rolls import NewRoll, roll_transitions, start_roll
from basso.supervisor import Backoff, RestartIntensity
from tests.pipeline_support import PROCESSED_AT, Outcomes, solo_leader
from tests.replay import assert_state_equals_replay
from tests.web.conftest import ADMIN_TOKEN, NOW, Webhook
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
    now: list[datetime]


@pytest.fixture
async def rolling(webhook: Webhook) -> AsyncIterator[Rolling]:
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    outcomes, steps = Outcomes(), RollSteps()
    now = [PROCESSED_AT]  # the wall clock: a test moves it to a roll day
    pipeline = Pipeline(
        pool=pool,
        config=webhook.services.config,
        epoch=epoch,
        wall_clock=lambda: now[0],
        hooks=Hooks(on_commit=outcomes, on_roll_step=steps),
        runtime=Runtime(roll_quote=quote),
    )
    services = webhook.services
    services.wake_processor, services.scan_rollover = pipeline.wake, pipeline.scan
    services.epoch = lambda: epoch
    services.wall_clock = lambda: now[0]
    await pipeline.start()
    pipeline.open()
    try:
        yield Rolling(webhook, pipeline, outcomes, steps, now)
    finally:
        await pipeline.stop()


async def drained(actor: ActorRef[Any]) -> None:
    """Until every message in `actor`'s mailbox has been handled (each acknowledgement wakes the wait)."""
    async with asyncio.timeout(20):
        while len(actor.mailbox):
            await actor.mailbox.wait_room()


async def post(rolling: Rolling, body: dict[str, Any], count: int) -> None:
    status, reply = await rolling.webhook.post(orjson.dumps(body))
    assert status == 200, reply
    await rolling.outcomes.wait_for(count)


async def test_a_gold_mini_position_is_rolled_with_its_risk_distance_unchanged(rolling: Rolling) -> None:
    pool = rolling.webhook.services.pool
    await post(rolling, payload("BASE_ENTRY_GOLD_MINI"), 1)
    before = await pool.fetchrow(
        "SELECT id, lots, entry_price, initial_stop, current_stop, highest_close, contract, expiry FROM positions"
    )
    assert before is not None
    # The entry at ₹50,00,000: Lot-R = 25,000 ÷ (500 × 10) × 0.75 = 3.75, Lot-V = 10,000 ÷ (500 × 10) = 2.0 ⇒ 2 lots
    # at 72,000, stop 71,500 (the signal's), in the December contract.
    assert (before["lots"], before["entry_price"], before["current_stop"], before["contract"]) == (
        2,
        Decimal("72000.0000"),
        Decimal("71500.0000"),
        "GOLDM04DEC26FUT",
    )
    await rolling.pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=rolling.pipeline.epoch))
    await rolling.steps.wait_for(2)  # close, then open (and done)
    after = await pool.fetchrow(
        "SELECT id, lots, entry_price, initial_stop, current_stop, highest_close, contract,"
        " expiry, status FROM positions"
    )
    assert after is not None
    # Spread = 72,450 − 72,000 = +450: entry 72,450, both stops 71,950, highest 72,450; the distance to the stop is
    # 72,450 − 71,950 = 500 = 72,000 − 71,500, to the paisa. Same row, same 2 lots, the January contract.
    assert after["id"] == before["id"]
    assert (
        after["lots"],
        after["entry_price"],
        after["initial_stop"],
        after["current_stop"],
        after["highest_close"],
        after["contract"],
        str(after["expiry"]),
        after["status"],
    ) == (
        2,
        Decimal("72450.0000"),
        Decimal("71950.0000"),
        Decimal("71950.0000"),
        Decimal("72450.0000"),
        "GOLDM05JAN27FUT",
        "2027-01-05",
        "open",
    )
    assert after["entry_price"] - after["current_stop"] == before["entry_price"] - before["current_stop"]
    # The roll's cost: closing 2 lots at 72,000 × 2 × 10 ₹/pt × 0.05 % = ₹720.00; opening at 72,450 × 2 × 10 ×
    # 0.05 % = ₹724.50. Nothing else: the old contract's profit (none here) stays in the shifted entry.
    costs = [r["amount"] for r in await pool.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost' ORDER BY id")]
    assert costs == [Decimal("-720.00"), Decimal("-724.50")]
    orders = [
        (r["symbol"], r["side"], r["quantity"], r["price"])
        for r in await pool.fetch(
            "SELECT symbol, side, quantity, price FROM orders WHERE client_id LIKE 'roll:%' ORDER BY id"
        )
    ]
    # 2 lots = 200 units (lot size 100 g, quoted per 10 g: 10 ₹ per point).
    assert orders == [
        ("GOLDM04DEC26FUT", "SELL", 200, Decimal("72000.0000")),
        ("GOLDM05JAN27FUT", "BUY", 200, Decimal("72450.0000")),
    ]
    roll_id = await pool.fetchval("SELECT id FROM rolls")
    states = [(a, b) for a, b, _why in await roll_transitions(pool, roll_id)]
    assert states == [
        (None, "pending"),
        ("pending", "closing_old"),
        ("closing_old", "opening_new"),
        ("opening_new", "done"),
    ]
    assert all(why for _a, _b, why in await roll_transitions(pool, roll_id))  # every transition says why
    assert await pool.fetchval("SELECT price FROM instrument_marks WHERE instrument = 'GOLD_MINI'") == Decimal(
        "72450.0000"
    )  # the mark follows the position into the new contract: open P&L does not jump
    await assert_state_equals_replay(pool, rolling.webhook.services.config)


# Wednesday 23 Dec 2026, 10:30 IST: Bank Nifty's December contract (expiry Tue 29 Dec, 6 days away) is inside its
# 7-day window; the next is the January contract, expiring Mon 25 Jan 2027 (26 Jan is a holiday).
BANK_NIFTY_ROLL_DAY = datetime(2026, 12, 23, 5, 0, tzinfo=UTC)


async def seed_bank_nifty(pool: Any) -> list[int]:
    """Three open Bank Nifty layers in the December contract (the facts as entries and trailing left them), the
    mark at 53,000; their position ids. Synthetic strikes were not recorded: each is its entry's ATM strike."""
    async with pool.acquire() as conn:
        signal = await conn.fetchval(
            "INSERT INTO signals (key, kind, instrument, signal_time, payload, outcome, reason, processed_at)"
            " VALUES ('seed', 'BASE_ENTRY', 'BANK_NIFTY', $1, '{}'::jsonb, 'executed', 'seeded', $1) RETURNING id",
            PROCESSED_AT,
        )
        ids = []
        for layer, lots, entry, initial, stop in (
            (1, 2, 52_000, 51_475, 52_100),
            (2, 1, 52_400, 51_875, 52_150),
            (3, 1, 52_800, 52_275, 52_275),
        ):
            ids.append(
                await conn.fetchval(
                    "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
                    " highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at, entry_signal)"
                    " VALUES ('BANK_NIFTY', $1, 'open', $2, $3, $4, $5, 53000, 350, 30, 270000, 'BANKNIFTY29DEC26FUT',"
                    " '2026-12-29', $6, $7) RETURNING id",
                    layer,
                    lots,
                    entry,
                    initial,
                    stop,
                    PROCESSED_AT,
                    signal,
                )
            )
        await conn.execute(
            "INSERT INTO instrument_marks (instrument, price, atr, at) VALUES ('BANK_NIFTY', 53000, 350, $1)",
            PROCESSED_AT,
        )
    return ids


async def test_a_bank_nifty_position_of_three_layers_rolls_both_legs_into_the_new_atm_strike(rolling: Rolling) -> None:
    pool = rolling.webhook.services.pool
    ids = await seed_bank_nifty(pool)
    seeded = await load_book(pool, rolling.webhook.services.config)
    NEW_PRICES["BANK_NIFTY"] = 53_380.0  # the January future: a spread of +380 over the 53,000 mark
    try:
        await rolling.pipeline.rollover.tell(Scan(now=BANK_NIFTY_ROLL_DAY, epoch=rolling.pipeline.epoch))
        await rolling.steps.wait_for(2)
    finally:
        del NEW_PRICES["BANK_NIFTY"]
    rows = await pool.fetch(
        "SELECT id, layer, lots, entry_price, initial_stop, current_stop, highest_close, contract,"
        " expiry, strike FROM positions WHERE status = 'open' ORDER BY layer"
    )
    # Every price +380; each layer keeps its row; the new ATM strike: 53,380 is 380 above 53,000 and 120 below
    # 53,500 ⇒ 53,500.
    assert [
        (
            r["id"],
            r["layer"],
            r["lots"],
            r["entry_price"],
            r["initial_stop"],
            r["current_stop"],
            r["highest_close"],
            r["contract"],
            str(r["expiry"]),
            r["strike"],
        )
        for r in rows
    ] == [
        (
            ids[0],
            1,
            2,
            Decimal("52380.0000"),
            Decimal("51855.0000"),
            Decimal("52480.0000"),
            Decimal("53380.0000"),
            "BANKNIFTY25JAN27FUT",
            "2027-01-25",
            53_500,
        ),
        (
            ids[1],
            2,
            1,
            Decimal("52780.0000"),
            Decimal("52255.0000"),
            Decimal("52530.0000"),
            Decimal("53380.0000"),
            "BANKNIFTY25JAN27FUT",
            "2027-01-25",
            53_500,
        ),
        (
            ids[2],
            3,
            1,
            Decimal("53180.0000"),
            Decimal("52655.0000"),
            Decimal("52655.0000"),
            Decimal("53380.0000"),
            "BANKNIFTY25JAN27FUT",
            "2027-01-25",
            53_500,
        ),
    ]
    # Stop distances unchanged to the paisa: 52,000 − 52,100, 52,400 − 52,150, 52,800 − 52,275 before.
    assert [r["entry_price"] - r["current_stop"] for r in rows] == [Decimal("-100"), Decimal("250"), Decimal("525")]
    # Four legs per layer: close the December synthetic at the layer's own strike (its entry's ATM: 52,000 → 52,000;
    # 52,400 → 52,500; 52,800 → 53,000), put first; open January's at 53,500, put first. Quantity = lots × 30.
    orders = [
        (r["position"], r["symbol"], r["side"], r["quantity"])
        for r in await pool.fetch(
            "SELECT position, symbol, side, quantity FROM orders WHERE client_id LIKE 'roll:%' ORDER BY id"
        )
    ]
    assert orders == [
        (ids[0], "BANKNIFTY29DEC2652000PE", "BUY", 60),
        (ids[0], "BANKNIFTY29DEC2652000CE", "SELL", 60),
        (ids[1], "BANKNIFTY29DEC2652500PE", "BUY", 30),
        (ids[1], "BANKNIFTY29DEC2652500CE", "SELL", 30),
        (ids[2], "BANKNIFTY29DEC2653000PE", "BUY", 30),
        (ids[2], "BANKNIFTY29DEC2653000CE", "SELL", 30),
        (ids[0], "BANKNIFTY25JAN2753500PE", "SELL", 60),
        (ids[0], "BANKNIFTY25JAN2753500CE", "BUY", 60),
        (ids[1], "BANKNIFTY25JAN2753500PE", "SELL", 30),
        (ids[1], "BANKNIFTY25JAN2753500CE", "BUY", 30),
        (ids[2], "BANKNIFTY25JAN2753500PE", "SELL", 30),
        (ids[2], "BANKNIFTY25JAN2753500CE", "BUY", 30),
    ]
    # Costs, 0.05 % of each layer's notional per side: closing at 53,000: (2 + 1 + 1) × 30 × 53,000 × 0.0005 =
    # ₹3,180.00; opening at 53,380: 4 × 30 × 53,380 × 0.0005 = ₹3,202.80.
    costs = [r["amount"] for r in await pool.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost' ORDER BY id")]
    assert costs == [Decimal("-3180.00"), Decimal("-3202.80")]
    assert await pool.fetchval("SELECT sum(amount) FROM ledger") == Decimal("5000000") - Decimal("6382.80")
    await assert_state_equals_replay(pool, rolling.webhook.services.config, seeded=seeded)


async def test_a_signal_for_the_instrument_waits_for_the_roll_and_one_for_another_does_not(rolling: Rolling) -> None:
    pool = rolling.webhook.services.pool
    await seed_bank_nifty(pool)
    seeded = await load_book(pool, rolling.webhook.services.config)
    rolling.pipeline.gate.set_recovered(False)  # hold the pipeline: the roll and two signals are stored first
    async with pool.acquire() as conn:
        roll = await start_roll(
            conn,
            epoch=rolling.pipeline.epoch,
            at=BANK_NIFTY_ROLL_DAY,
            roll=NewRoll(
                instrument="BANK_NIFTY",
                old_contract="BANKNIFTY29DEC26FUT",
                old_expiry=date(2026, 12, 29),
                new_contract="BANKNIFTY25JAN27FUT",
                new_expiry=date(2027, 1, 25),
                new_strike=53_000,
                old_price=Decimal(53_000),
                new_price=Decimal(53_000),
                reason="test",
            ),
        )
    assert roll is not None
    for body in (payload("EXIT_STOP_LOSS", signal_id="bn-exit"), payload("BASE_ENTRY_GOLD_MINI", signal_id="gold")):
        status, reply = await rolling.webhook.post(orjson.dumps(body))
        assert status == 200, reply
    rolling.pipeline.open()
    await rolling.outcomes.wait_until_none_pending(pool)
    applied = [r["key"] for r in await pool.fetch("SELECT key FROM signals WHERE applied IS NOT NULL ORDER BY applied")]
    # The roll's first step (stored first) goes first; its commit stores the second step. The Gold entry, stored
    # before that second step, keeps its place; the Bank Nifty exit, stored mid-roll, waits for the roll's step.
    assert applied == [f"roll:{roll}:1", "gold", f"roll:{roll}:2", "bn-exit"]
    await assert_state_equals_replay(pool, rolling.webhook.services.config, seeded=seeded)


async def test_a_crash_after_every_transition_resumes_the_roll_with_no_leg_twice_and_none_forgotten(
    webhook: Webhook,
) -> None:
    # Every message the receiver, the RolloverScanner and the Persister handle crashes them once before it goes
    # through: after each committed step the receiver crashes handing out the next, the scanner crashes deciding
    # it and the Persister crashes before committing it. Each is redelivered to a fresh incarnation.
    # Keyed by the message about to be handled (its mailbox's head), not by a count of deliveries: a message
    # interrupted by a restart of its actor (not a crash) is delivered again, which would shift a count and could
    # crash one message three times (a dead letter this test is not about).
    watched: dict[str, ActorRef[Any]] = {}
    crashed: set[str] = set()
    seen: dict[str, int] = {}

    def crash_every_first_delivery(path: str) -> None:
        name = path.split("/")[-1]
        actor = watched.get(name)
        if actor is None:
            return
        seen[name] = seen.get(name, 0) + 1
        message = actor.mailbox.head()
        if message.id not in crashed:
            crashed.add(message.id)
            raise RuntimeError(f"injected into {path}")

    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    outcomes, steps = Outcomes(), RollSteps()
    pipeline = Pipeline(
        pool=pool,
        config=webhook.services.config,
        epoch=epoch,
        wall_clock=lambda: PROCESSED_AT,
        hooks=Hooks(on_commit=outcomes, on_roll_step=steps),
        runtime=Runtime(
            roll_quote=quote,
            fault=crash_every_first_delivery,
            intensity=RestartIntensity(max_restarts=1_000, within_s=1.0),
            backoff=Backoff(base_s=0.0, max_s=0.0),
        ),
    )
    watched.update(receiver=pipeline.receiver, rollover=pipeline.rollover, persister=pipeline.root.ref("persister"))
    webhook.services.wake_processor = pipeline.wake
    await pipeline.start()
    pipeline.open()
    try:
        status, _ = await webhook.post(orjson.dumps(payload("BASE_ENTRY_GOLD_MINI")))
        assert status == 200
        # Decided and filled. Not counted by the commit hook: a receiver crashed while handing the entry out hands
        # it out again, and the commit whose reply it lost may be the one that reports nothing (a redelivery finds
        # it already processed and its orders already filled); the database says when it is done.
        await outcomes.wait_until_none_pending(pool)
        await pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=pipeline.epoch))
        await steps.wait_for(2)
        await outcomes.wait_until_none_pending(pool)
    finally:
        await pipeline.stop()
    assert seen["persister"] >= 8  # the entry's decision and fill and both steps, each crashed once
    # Exactly one close leg and one open leg, and the roll's two costs once each (see the Gold Mini test).
    orders = [
        (r["symbol"], r["side"])
        for r in await pool.fetch("SELECT symbol, side FROM orders WHERE client_id LIKE 'roll:%' ORDER BY id")
    ]
    assert orders == [("GOLDM04DEC26FUT", "SELL"), ("GOLDM05JAN27FUT", "BUY")]
    costs = [r["amount"] for r in await pool.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost' ORDER BY id")]
    assert costs == [Decimal("-720.00"), Decimal("-724.50")]
    roll_id = await pool.fetchval("SELECT id FROM rolls")
    assert [b for _a, b, _why in await roll_transitions(pool, roll_id)] == [
        "pending",
        "closing_old",
        "opening_new",
        "done",
    ]
    assert await pool.fetchval("SELECT count(*) FROM signals WHERE outcome = 'dead'") == 0
    await assert_state_equals_replay(pool, webhook.services.config)


async def test_post_api_rollover_lists_with_dry_run_and_rolls_without(rolling: Rolling) -> None:
    pool = rolling.webhook.services.pool
    await post(rolling, payload("BASE_ENTRY_GOLD_MINI"), 1)
    assert await admin_post(rolling, {"dry_run": True}, token="wrong") == (401, {"status": "unauthorised"})
    status, reply = await admin_post(rolling, {"dry_run": "yes"})
    assert status == 400
    assert "dry_run" in str(reply)
    # 25 Nov: the December contract is 9 days from expiry, outside Gold Mini's 8-day window.
    assert await admin_post(rolling, {"dry_run": True}) == (
        200,
        {
            "status": "dry run",
            "candidates": [
                {
                    "instrument": "GOLD_MINI",
                    "contract": "GOLDM04DEC26FUT",
                    "expiry": "2026-12-04",
                    "urgency": "not_due",
                    "action": "none",
                }
            ],
        },
    )
    rolling.now[0] = ROLL_DAY  # 27 Nov: 7 days, inside it
    due = {
        "instrument": "GOLD_MINI",
        "contract": "GOLDM04DEC26FUT",
        "expiry": "2026-12-04",
        "urgency": "due",
        "action": "roll",
    }
    assert await admin_post(rolling, {"dry_run": True}) == (200, {"status": "dry run", "candidates": [due]})
    assert await pool.fetchval("SELECT count(*) FROM rolls") == 0  # a dry run changes nothing
    assert await admin_post(rolling, {}) == (200, {"status": "accepted", "candidates": [due]})
    await rolling.steps.wait_for(2)
    assert await pool.fetchval("SELECT state FROM rolls") == "done"
    assert await pool.fetchval("SELECT contract FROM positions WHERE status = 'open'") == "GOLDM05JAN27FUT"


async def admin_post(rolling: Rolling, body: object, *, token: str = ADMIN_TOKEN) -> tuple[int, object]:
    webhook = rolling.webhook
    async with webhook.session.post(
        webhook.server.make_url("/api/rollover"), data=orjson.dumps(body), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_past_expiry_a_scan_raises_a_critical_alert_and_entries_on_the_instrument_are_blocked(
    rolling: Rolling,
) -> None:
    pool = rolling.webhook.services.pool
    await post(rolling, payload("BASE_ENTRY_GOLD_MINI"), 1)  # 2 lots in GOLDM04DEC26FUT (expiry Fri 4 Dec)
    rolling.now[0] = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # Monday 7 Dec 10:30 IST: three days past expiry
    pipeline = rolling.pipeline
    handled = pipeline.statistics()["basso/trading/rollover"]["handled"]
    await pipeline.rollover.tell(Scan(now=rolling.now[0], epoch=pipeline.epoch))
    async with asyncio.timeout(10):
        while pipeline.statistics()["basso/trading/rollover"]["handled"] == handled:
            await pipeline.rollover.mailbox.wait_room()
    await post(
        rolling,
        payload(
            "BASE_ENTRY_GOLD_MINI",
            position="Long_2",
            type="PYRAMID",
            price=73_000,
            stop=72_500,
            timestamp="2026-12-07T10:30:00",
            signal_id="pyramid",
        ),
        2,
    )
    row = await pool.fetchrow("SELECT outcome, reason FROM signals WHERE key = 'pyramid'")
    assert row is not None
    assert (row["outcome"], row["reason"]) == (
        "blocked",
        "GOLD_MINI GOLDM04DEC26FUT expired on 2026-12-04 and is not rolled: roll or close it first",
    )
    # Besides the leadership alert of the test's own start (tests/leadership/test_alerts.py):
    rows = await pool.fetch("SELECT level, kind FROM alerts WHERE kind NOT LIKE 'leadership%' ORDER BY id")
    assert [(r["level"], r["kind"]) for r in rows] == [("critical", "roll_expired")]
    assert await pool.fetchval("SELECT count(*) FROM rolls") == 0  # nothing is rolled past expiry by itself


async def test_a_roll_does_not_start_while_an_order_on_the_instrument_is_working(rolling: Rolling) -> None:
    pool = rolling.webhook.services.pool
    await post(rolling, payload("BASE_ENTRY_GOLD_MINI"), 1)
    # The entry's order, as a real broker would leave it for a while: sent, not filled yet.
    await pool.execute("UPDATE orders SET status = 'sent'")
    await rolling.pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=rolling.pipeline.epoch))
    await rolling.pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=rolling.pipeline.epoch))
    await drained(rolling.pipeline.rollover)  # both scans handled
    assert await pool.fetchval("SELECT count(*) FROM rolls") == 0
    await pool.execute("UPDATE orders SET status = 'filled'")  # done: the next scan starts it
    await rolling.pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=rolling.pipeline.epoch))
    await rolling.steps.wait_for(2)
    assert await pool.fetchval("SELECT state FROM rolls") == "done"
