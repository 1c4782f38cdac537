"""Rolls through a real broker (docs/rules.md §7, §8; sql/014): the running pipeline with the order desk on the fake
OpenAlgo. Each step commits its orders `pending`, the desk works them at the broker, and the next step reads what
actually filled: the far legs are sized to what closed, and the layer shifts by the spread between the fills.

The position: the Gold Mini entry of tests/web/test_rollover.py, 2 lots at 72,000 with the stop at 71,500 in the
December contract (GOLDM04DEC26FUT), rolled on Friday 27 Nov 2026 into January (GOLDM05JAN27FUT). Shipped
configuration: 100 g a lot (₹10 a point a lot), tick 1, LIMIT at LTP ± 2 ticks, commission 0.05 % of notional per
side. The fake fills a LIMIT that crosses the touch at the touch (bid for a SELL, ask for a BUY)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

import orjson
import pytest

from basso.brokers.openalgo import OpenAlgoClient
from basso.config import Config
from basso.messages import Scan
from basso.pipeline import Hooks, Pipeline, Runtime
from basso.rules.contracts import contract_now
from basso.store.fence import take_fence
from basso.store.outcomes import pending_signals
from basso.store.rolls import roll_transitions
from tests.brokers.fake_openalgo import FakeOpenAlgo
from tests.pipeline_support import PROCESSED_AT, Outcomes, solo_leader
from tests.process.test_openalgo import fake_openalgo
from tests.web.conftest import NOW, SECRET, Webhook
from tests.web.test_rollover import BANK_NIFTY_ROLL_DAY, ROLL_DAY, RollSteps, seed_bank_nifty
from tests.web.test_webhook import payload

OLD, NEW = "GOLDM04DEC26FUT", "GOLDM05JAN27FUT"
NEW_BN = "BANKNIFTY25JAN27FUT"


@dataclass
class BrokerRoll:
    webhook: Webhook
    fake: FakeOpenAlgo
    pipeline: Pipeline
    steps: RollSteps

    async def roll(self, steps: int) -> None:
        """Scan on the roll day, and wait until the roll has committed `steps` steps."""
        await self.pipeline.rollover.tell(Scan(now=ROLL_DAY, epoch=self.pipeline.epoch))
        await self.steps.wait_for(steps)

    def orders(self) -> list[tuple[str, str, str, str, str]]:
        """Every order placed at the broker: (symbol, action, quantity, price type, price)."""
        return [
            (b["symbol"], b["action"], b["quantity"], b["pricetype"], b["price"]) for b in self.fake.sent("placeorder")
        ]


async def entered_on_paper(webhook: Webhook) -> int:
    """The position, entered on paper by a solo leader: 2 lots at 72,000, stop 71,500, in December's contract. The
    leader's epoch."""
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    outcomes = Outcomes()
    paper = Pipeline(
        pool=pool,
        config=webhook.services.config,
        epoch=epoch,
        wall_clock=lambda: PROCESSED_AT,
        hooks=Hooks(on_commit=outcomes),
    )
    webhook.services.wake_processor = paper.wake
    await paper.start()
    paper.open()
    try:
        status, reply = await webhook.post(orjson.dumps(payload("BASE_ENTRY_GOLD_MINI")))
        assert status == 200, reply
        await outcomes.wait_until_none_pending(pool)
    finally:
        await paper.stop()
    return epoch


def fast(config: Config) -> Config:
    """A chase's status checks a millisecond apart: the fake answers at once."""
    return replace(config, broker=replace(config.broker, step_interval_s=0.001))


@asynccontextmanager
async def trading(
    webhook: Webhook, client: OpenAlgoClient, epoch: int, now: datetime, steps: RollSteps
) -> AsyncIterator[Pipeline]:
    """A leader's pipeline through `client`, its wall clock stopped at `now`, started and open; `steps` hears each
    committed roll step."""
    live = Pipeline(
        pool=webhook.services.pool,
        config=fast(webhook.services.config),
        epoch=epoch,
        wall_clock=lambda: now,
        broker_client=client,
        hooks=Hooks(on_roll_step=steps),
    )
    await live.start()
    live.open()
    try:
        yield live
    finally:
        await live.stop()


@pytest.fixture
async def broker_roll(webhook: Webhook) -> AsyncIterator[BrokerRoll]:
    epoch = await entered_on_paper(webhook)
    async with fake_openalgo() as fake, OpenAlgoClient(base_url=fake.url, api_key=fake.api_key) as client:
        steps = RollSteps()
        async with trading(webhook, client, epoch, ROLL_DAY, steps) as live:
            yield BrokerRoll(webhook, fake, live, steps)


async def layer(roll: BrokerRoll) -> tuple[object, ...]:
    row = await roll.webhook.services.pool.fetchrow(
        "SELECT count(*) OVER () AS rows, lots, entry_price, initial_stop, current_stop, highest_close, contract,"
        " expiry, status FROM positions"
    )
    assert row is not None
    return tuple(row)


async def costs(roll: BrokerRoll) -> list[tuple[str, Decimal]]:
    rows = await roll.webhook.services.pool.fetch(
        "SELECT kind, amount FROM ledger WHERE kind NOT IN ('deposit', 'commission') ORDER BY id"
    )
    return [(r["kind"], r["amount"]) for r in rows]


async def test_a_gold_mini_roll_sells_the_old_contract_buys_the_new_and_shifts_by_the_fills(
    broker_roll: BrokerRoll,
) -> None:
    fake = broker_roll.fake
    fake.set_market(OLD, ltp="72000", lot_size=100, tick="1")
    fake.set_market(NEW, ltp="72450", lot_size=100, tick="1")
    await broker_roll.roll(3)  # close (its order committed), open (likewise), done
    # SELL 200 g at LTP − 2 ticks = 71,998, filled at the bid 72,000; BUY 200 g at 72,452, filled at the ask 72,450.
    assert broker_roll.orders() == [
        (OLD, "SELL", "200", "LIMIT", "71998.0"),
        (NEW, "BUY", "200", "LIMIT", "72452.0"),
    ]
    assert fake.net(NEW) == 200
    # Spread 72,450 − 72,000 = +450: entry 72,450, both stops 71,950, highest 72,450. The stop is 500 points away,
    # as before the roll, to the paisa; the same row, the same 2 lots, January's contract.
    assert await layer(broker_roll) == (
        1,
        2,
        Decimal("72450.0000"),
        Decimal("71950.0000"),
        Decimal("71950.0000"),
        Decimal("72450.0000"),
        NEW,
        date(2027, 1, 5),
        "open",
    )
    # The roll's cost, one row per fill: 72,000 × 2 × 10 × 0.05 % = 720.00 and 72,450 × 2 × 10 × 0.05 % = 724.50.
    assert await costs(broker_roll) == [("roll_cost", Decimal("-720.00")), ("roll_cost", Decimal("-724.50"))]
    pool = broker_roll.webhook.services.pool
    roll_id = await pool.fetchval("SELECT id FROM rolls")
    assert [(a, b) for a, b, _ in await roll_transitions(pool, roll_id)] == [
        (None, "pending"),
        ("pending", "closing_old"),
        ("closing_old", "opening_new"),
        ("opening_new", "done"),
    ]
    assert await pool.fetchval("SELECT price FROM instrument_marks WHERE instrument = 'GOLD_MINI'") == Decimal(
        "72450.0000"
    )
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE roll IS NOT NULL AND status <> 'filled'") == 0


async def test_a_near_leg_filled_in_part_opens_only_what_closed_and_the_rest_rolls_at_the_next_step(
    broker_roll: BrokerRoll,
) -> None:
    fake = broker_roll.fake
    # December's bid stands 20 below the LTP: SELL LIMIT 200 g at 71,998 does not cross; the book fills 100 g of it
    # at its own price when placed and no more, and refuses the MARKET order for the rest.
    old = fake.set_market(OLD, ltp="72000", bid="71980", ask="72020", lot_size=100, tick="1")
    old.partial_fill = 100
    old.reject_market = "RMS: market orders blocked"
    fake.set_market(NEW, ltp="72450", lot_size=100, tick="1")
    await broker_roll.roll(5)  # close 2 (1 filled), open 1, close 1, open 1, done
    assert broker_roll.orders() == [
        (OLD, "SELL", "200", "LIMIT", "71998.0"),
        (OLD, "SELL", "100", "MARKET", "0"),  # the rest, refused
        (NEW, "BUY", "100", "LIMIT", "72452.0"),  # only what closed
        (OLD, "SELL", "100", "LIMIT", "71998.0"),  # the remainder, filled as placed
        (NEW, "BUY", "100", "LIMIT", "72452.0"),
    ]
    # Closed at 71,998 twice, opened at 72,450 twice: spread 452. Entry 72,000 + 452 = 72,452, stops 71,952.
    assert await layer(broker_roll) == (
        1,
        2,
        Decimal("72452.0000"),
        Decimal("71952.0000"),
        Decimal("71952.0000"),
        Decimal("72452.0000"),
        NEW,
        date(2027, 1, 5),
        "open",
    )
    # 71,998 × 10 × 0.05 % = 359.99 per lot closed; 72,450 × 10 × 0.05 % = 362.25 per lot opened.
    assert await costs(broker_roll) == [
        ("roll_cost", Decimal("-359.99")),
        ("roll_cost", Decimal("-362.25")),
        ("roll_cost", Decimal("-359.99")),
        ("roll_cost", Decimal("-362.25")),
    ]
    pool = broker_roll.webhook.services.pool
    roll_id = await pool.fetchval("SELECT id FROM rolls")
    assert [(a, b) for a, b, _ in await roll_transitions(pool, roll_id)] == [
        (None, "pending"),
        ("pending", "closing_old"),
        ("closing_old", "opening_new"),
        ("opening_new", "closing_old"),
        ("closing_old", "opening_new"),
        ("opening_new", "done"),
    ]


async def test_a_roll_the_broker_refuses_fails_with_a_critical_alert_and_the_layer_as_it_was(
    broker_roll: BrokerRoll,
) -> None:
    fake = broker_roll.fake
    fake.set_market(OLD, ltp="72000", lot_size=100, tick="1").reject = "RMS: Margin Exceeds"
    fake.set_market(NEW, ltp="72450", lot_size=100, tick="1")
    await broker_roll.roll(2)  # close (refused), failed
    assert broker_roll.orders() == [(OLD, "SELL", "200", "LIMIT", "71998.0")]
    assert await layer(broker_roll) == (
        1,
        2,
        Decimal("72000.0000"),
        Decimal("71500.0000"),
        Decimal("71500.0000"),
        Decimal("72000.0000"),
        OLD,
        date(2026, 12, 4),
        "open",
    )
    assert await costs(broker_roll) == []
    pool = broker_roll.webhook.services.pool
    assert await pool.fetchval("SELECT state FROM rolls") == "failed"
    alert = await pool.fetchrow("SELECT level, message FROM alerts WHERE kind = 'roll_failed'")
    assert alert is not None
    assert alert["level"] == "critical"
    assert alert["message"] == (
        f"roll 1 of GOLD_MINI ({OLD} into {NEW}) failed: the broker filled nothing of the orders to close the old "
        "contract (HTTP 400: RMS: Margin Exceeds): 0 of 2 lot(s) rolled, 2 still in the old contract; roll the rest "
        "by hand"
    )


def signal(body: dict[str, object]) -> bytes:
    """A signal stamped on the roll day (10:30 IST), with the webhook's secret."""
    return orjson.dumps({**body, "timestamp": "2026-11-27T10:30:00", "secret": SECRET})


COPPER_ENTRY = {
    "type": "BASE_ENTRY",
    "instrument": "COPPER",
    "position": "Long_1",
    "price": 900,
    "stop": 895,
    "atr": 2,
    "er": 0.85,
    "lots": 1,
    "supertrend": 895,
}
GOLD_EXIT = {"type": "EXIT", "instrument": "GOLD_MINI", "position": "Long_1", "price": 72450, "reason": "trend over"}


async def test_a_leader_stopped_while_the_near_leg_works_is_followed_by_one_that_finishes_the_roll_unsent_again(
    webhook: Webhook, config: Config
) -> None:
    pool = webhook.services.pool
    epoch = await entered_on_paper(webhook)
    webhook.services.wall_clock = lambda: ROLL_DAY
    copper = contract_now(config, "COPPER", ROLL_DAY).future_symbol
    async with fake_openalgo() as fake, OpenAlgoClient(base_url=fake.url, api_key=fake.api_key) as client:
        # December's bid stands 20 below the LTP: SELL LIMIT 200 g at 71,998 rests in the book.
        fake.set_market(OLD, ltp="72000", bid="71980", ask="72020", lot_size=100, tick="1")
        fake.set_market(NEW, ltp="72450", lot_size=100, tick="1")
        fake.set_market(copper, ltp="900", lot_size=2500, tick="0.05")
        waiting: asyncio.Queue[None] = asyncio.Queue()

        async def hold(_seconds: float) -> None:  # an order placed, its chase waits: the leader stops in there
            waiting.put_nowait(None)
            await asyncio.Event().wait()

        outcomes = Outcomes()
        first = Pipeline(
            pool=pool,
            config=fast(config),
            epoch=epoch,
            wall_clock=lambda: ROLL_DAY,
            broker_client=client,
            hooks=Hooks(on_commit=outcomes),
            runtime=Runtime(order_sleep=hold),
        )
        webhook.services.wake_processor = first.wake
        await first.start()
        first.open()
        try:
            await first.rollover.tell(Scan(now=ROLL_DAY, epoch=epoch))
            await asyncio.wait_for(waiting.get(), 20)  # the roll's SELL rests at the broker
            # Mid-roll: Gold Mini's exit waits for the roll; Copper's entry does not.
            for body in (GOLD_EXIT, COPPER_ENTRY):
                status, reply = await webhook.post(signal(body))
                assert status == 200, reply
            await asyncio.wait_for(waiting.get(), 20)  # Copper's BUY is at the broker too (filled as placed)
            decided = await pool.fetch(
                "SELECT instrument FROM signals WHERE id = ANY($1::bigint[])", outcomes.committed
            )
            assert [r["instrument"] for r in decided] == ["COPPER"]
            assert await pool.fetchval("SELECT outcome FROM signals WHERE kind = 'EXIT'") == "pending"
        finally:
            await first.stop()
        sell = await pool.fetchrow("SELECT status, broker_order_id FROM orders WHERE roll IS NOT NULL")
        assert sell is not None
        assert sell["status"] == "sent"
        assert sell["broker_order_id"] is not None
        async with pool.acquire() as conn:
            second_epoch = await take_fence(conn, "b", "takeover")
        steps, after = RollSteps(), Outcomes()
        second = Pipeline(
            pool=pool,
            config=fast(config),
            epoch=second_epoch,
            wall_clock=lambda: ROLL_DAY,
            broker_client=client,
            hooks=Hooks(on_roll_step=steps, on_commit=after),
        )
        webhook.services.wake_processor = second.wake
        await second.start()
        second.open()
        try:
            await steps.wait_for(2)  # the far leg's step, then done
            await after.wait_until_none_pending(pool)  # then the exit, and every order filled
        finally:
            await second.stop()
        # The resting SELL is found by its order id, cancelled and its 200 g taken at MARKET at the bid, 71,980:
        # never sent again. The exit, decided once the roll was done, sells January's contract.
        gold = [(b["symbol"], b["action"], b["pricetype"], b["quantity"]) for b in fake.sent("placeorder")]
        assert [x for x in gold if x[0] != copper] == [
            (OLD, "SELL", "LIMIT", "200"),
            (OLD, "SELL", "MARKET", "200"),
            (NEW, "BUY", "LIMIT", "200"),
            (NEW, "SELL", "LIMIT", "200"),
        ]
        assert [x[1] for x in gold if x[0] == copper] == ["BUY"]
    # Spread 72,450 − 71,980 = +470: entry 72,470, stops 71,970, highest 72,470; the exit at the bid 72,450.
    row = await pool.fetchrow(
        "SELECT entry_price, current_stop, highest_close, contract, status, exit_price, realised_pnl FROM positions"
        " WHERE instrument = 'GOLD_MINI'"
    )
    assert row is not None
    assert tuple(row) == (
        Decimal("72470.0000"),
        Decimal("71970.0000"),
        Decimal("72470.0000"),
        NEW,
        "closed",
        Decimal("72450.0000"),
        Decimal("-400.00"),  # (72,450 − 72,470) × 2 × 10
    )
    assert await pool.fetchval("SELECT state FROM rolls") == "done"
    # 71,980 × 20 × 0.05 % = 719.80 and 72,450 × 20 × 0.05 % = 724.50.
    amounts = await pool.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost' ORDER BY id")
    assert [r["amount"] for r in amounts] == [Decimal("-719.80"), Decimal("-724.50")]


async def test_while_a_rolls_orders_work_its_instruments_signals_wait_and_others_do_not(webhook: Webhook) -> None:
    pool = webhook.services.pool
    await solo_leader(pool, NOW)
    async with pool.acquire() as conn:
        entry = await conn.fetchval(
            "INSERT INTO signals (key, kind, instrument, signal_time, payload, outcome)"
            " VALUES ('entry', 'BASE_ENTRY', 'GOLD_MINI', $1, '{}', 'executed') RETURNING id",
            NOW,
        )
        await conn.execute(
            "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
            " highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at, entry_signal)"
            " VALUES ('GOLD_MINI', 1, 'open', 2, 72000, 71500, 71500, 72000, 500, 10, 100000, $1, '2026-12-04', $2,"
            " $3)",
            OLD,
            NOW,
            entry,
        )
        roll = await conn.fetchval(
            "INSERT INTO rolls (instrument, state, old_contract, old_expiry, new_contract, new_expiry, old_price,"
            " new_price, reason, started_at, updated_at) VALUES ('GOLD_MINI', 'closing_old', $1, '2026-12-04', $2,"
            " '2027-01-05', 72000, 72450, 'test', $3, $3) RETURNING id",
            OLD,
            NEW,
            NOW,
        )
        for key, instrument in (("gold", "GOLD_MINI"), ("bank", "BANK_NIFTY")):
            await conn.execute(
                "INSERT INTO signals (key, kind, instrument, signal_time, payload)"
                " VALUES ($1, 'EXIT', $2, $3, jsonb_build_object('type', 'EXIT', 'instrument', $2::text))",
                key,
                instrument,
                NOW,
            )
        gold = await conn.fetchval("SELECT id FROM signals WHERE key = 'gold'")
        await conn.execute(
            "INSERT INTO orders (client_id, signal, position, broker, instrument, symbol, side, lots, quantity, price,"
            " status, epoch, roll) SELECT 'roll-close', $1, id, 'openalgo', 'GOLD_MINI', $2, 'SELL', 2, 200, 72000,"
            " 'sent', 1, $3 FROM positions",
            gold,
            OLD,
            roll,
        )
        assert [p.key for p in await pending_signals(conn, limit=10)] == ["bank"]
        await conn.execute("UPDATE orders SET status = 'filled', filled_lots = 2 WHERE client_id = 'roll-close'")
        assert [p.key for p in await pending_signals(conn, limit=10)] == ["gold", "bank"]


async def test_a_bank_nifty_position_of_three_layers_rolls_four_legs_a_layer_into_the_new_atm_strike(
    webhook: Webhook,
) -> None:
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    ids = await seed_bank_nifty(pool)  # strikes not recorded: each layer's is its entry's ATM strike
    async with fake_openalgo() as fake, OpenAlgoClient(base_url=fake.url, api_key=fake.api_key) as client:
        # December's synthetics are each worth 53,000 (strike + call − put); January's 53,500 is worth 53,380.
        for symbol, ltp in (
            ("BANKNIFTY29DEC2652000PE", "200"),
            ("BANKNIFTY29DEC2652000CE", "1200"),
            ("BANKNIFTY29DEC2652500PE", "400"),
            ("BANKNIFTY29DEC2652500CE", "900"),
            ("BANKNIFTY29DEC2653000PE", "650"),
            ("BANKNIFTY29DEC2653000CE", "650"),
            ("BANKNIFTY25JAN2753500PE", "700"),
            ("BANKNIFTY25JAN2753500CE", "580"),
        ):
            fake.set_market(symbol, ltp=ltp, lot_size=30, tick="0.05")
        fake.set_market(NEW_BN, ltp="53380")  # January's future, quoted when the roll starts: its ATM strike 53,500
        steps = RollSteps()
        async with trading(webhook, client, epoch, BANK_NIFTY_ROLL_DAY, steps) as live:
            await live.rollover.tell(Scan(now=BANK_NIFTY_ROLL_DAY, epoch=epoch))
            await steps.wait_for(3)  # close, open, done
        # Four legs a layer, each filled at its LTP (the LIMIT crosses): the December synthetic closed at its own
        # strike, put bought back first; January's opened at 53,500 (53,380 is 120 below it), put sold first.
        # Quantity = lots × 30. The three layers' orders are worked side by side.
        placed = sorted((b["symbol"], b["action"], b["quantity"]) for b in fake.sent("placeorder"))
        assert placed == sorted(
            [
                ("BANKNIFTY29DEC2652000PE", "BUY", "60"),
                ("BANKNIFTY29DEC2652000CE", "SELL", "60"),
                ("BANKNIFTY29DEC2652500PE", "BUY", "30"),
                ("BANKNIFTY29DEC2652500CE", "SELL", "30"),
                ("BANKNIFTY29DEC2653000PE", "BUY", "30"),
                ("BANKNIFTY29DEC2653000CE", "SELL", "30"),
                ("BANKNIFTY25JAN2753500PE", "SELL", "60"),
                ("BANKNIFTY25JAN2753500CE", "BUY", "60"),
                ("BANKNIFTY25JAN2753500PE", "SELL", "30"),
                ("BANKNIFTY25JAN2753500CE", "BUY", "30"),
                ("BANKNIFTY25JAN2753500PE", "SELL", "30"),
                ("BANKNIFTY25JAN2753500CE", "BUY", "30"),
            ]
        )
    rows = await pool.fetch(
        "SELECT id, entry_price, initial_stop, current_stop, highest_close, contract, strike FROM positions"
        " WHERE status = 'open' ORDER BY layer"
    )
    # Closed at 53,000, opened at 53,380: every price +380, as on paper (tests/web/test_rollover.py); same rows.
    assert [tuple(r) for r in rows] == [
        (
            ids[0],
            Decimal("52380.0000"),
            Decimal("51855.0000"),
            Decimal("52480.0000"),
            Decimal("53380.0000"),
            NEW_BN,
            53_500,
        ),
        (
            ids[1],
            Decimal("52780.0000"),
            Decimal("52255.0000"),
            Decimal("52530.0000"),
            Decimal("53380.0000"),
            NEW_BN,
            53_500,
        ),
        (
            ids[2],
            Decimal("53180.0000"),
            Decimal("52655.0000"),
            Decimal("52655.0000"),
            Decimal("53380.0000"),
            NEW_BN,
            53_500,
        ),
    ]
    # Each layer's commission on its synthetic's notional: closing 53,000 × 2 × 30 × 0.05 % = 1,590.00 and 795.00
    # twice (₹3,180.00 in all); opening 53,380 × 2 × 30 × 0.05 % = 1,601.40 and 800.70 twice (₹3,202.80).
    amounts = sorted(r["amount"] for r in await pool.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost'"))
    assert amounts == sorted(Decimal(x) for x in ("-1590.00", "-795.00", "-795.00", "-1601.40", "-800.70", "-800.70"))
    assert await pool.fetchval("SELECT state FROM rolls") == "done"
