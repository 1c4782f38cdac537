"""A signal whose processing crashes three times is dead-lettered with the error; the next one proceeds."""

from __future__ import annotations

import orjson

from basso.pipeline import Runtime
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader
from tests.web.conftest import NOW, Webhook
from tests.web.test_webhook import payload


class Poison(Exception):
    """An actor cannot handle this signal."""


async def test_a_poison_signal_is_buried_with_its_error_and_the_next_signal_is_processed(webhook: Webhook) -> None:
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    crashes: list[str] = []

    def fault(path: str) -> None:
        # The RiskGuard fails on the first three deliveries it gets: all three are the first signal's decision,
        # before anything of it is committed.
        if path.endswith("risk_guard") and len(crashes) < 3:
            crashes.append(path)
            raise Poison("gold feed corrupt")

    outcomes = Outcomes()
    pipeline = pipeline_for(pool, webhook.services.config, epoch, outcomes, runtime=Runtime(fault=fault))
    webhook.services.wake_processor = pipeline.wake
    await pipeline.start()
    await webhook.post(orjson.dumps(payload("BASE_ENTRY_GOLD_MINI")))
    await webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY")))
    pipeline.open()
    await outcomes.wait_for(1)
    await pipeline.stop()
    rows = await pool.fetch("SELECT instrument, outcome, reason FROM signals ORDER BY id")
    assert [(r["instrument"], r["outcome"]) for r in rows] == [("GOLD_MINI", "dead"), ("BANK_NIFTY", "executed")]
    assert "Poison: gold feed corrupt" in rows[0]["reason"]
    assert len(crashes) == 3
    letter = await pool.fetchrow("SELECT actor, error, attempts FROM dead_letters")
    assert letter is not None
    assert (letter["actor"], letter["attempts"]) == ("basso/trading/risk_guard", 3)
    assert letter["error"] == "Poison: gold feed corrupt"
    # Its alert, raised with it: critical, naming the signal; the trader hears of it through the outbox.
    alert = await pool.fetchrow("SELECT id, level, instrument, detail FROM alerts WHERE kind = 'dead_letter'")
    assert alert is not None
    assert (alert["level"], alert["instrument"]) == ("critical", "GOLD_MINI")
    key = await pool.fetchval("SELECT key FROM signals WHERE instrument = 'GOLD_MINI'")
    assert orjson.loads(alert["detail"])["signal_id"] == key
    assert (
        await pool.fetchval("SELECT count(*) FROM notifications WHERE source = 'alert' AND source_id = $1", alert["id"])
        == 1
    )


async def test_orders_whose_placement_crashed_three_times_are_still_filled_once(webhook: Webhook) -> None:
    # The decision is committed before its orders go to the Executor: a Place that crashes it three times is a
    # dead letter, but the orders are facts, and the next sweep of working orders fills them, once.
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    crashes: list[str] = []

    def fault(path: str) -> None:
        if path.endswith("executor") and len(crashes) < 3:
            crashes.append(path)
            raise Poison("broker adapter broken")

    outcomes = Outcomes()
    pipeline = pipeline_for(pool, webhook.services.config, epoch, outcomes, runtime=Runtime(fault=fault))
    webhook.services.wake_processor = pipeline.wake
    await pipeline.start()
    await webhook.post(orjson.dumps(payload("BASE_ENTRY_GOLD_MINI")))
    pipeline.open()
    await outcomes.wait_until_none_pending(pool)
    while await pool.fetchval("SELECT count(*) FROM orders WHERE status <> 'filled'"):
        await outcomes.wait_for(len(outcomes.committed) + 1)
    await pipeline.stop()
    assert await pool.fetchval("SELECT outcome FROM signals") == "executed"
    assert len(crashes) == 3
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    assert await pool.fetchval("SELECT count(*) FROM fills") == 1
