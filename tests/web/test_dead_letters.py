"""A signal whose processing crashes three times is dead-lettered with the error; the next one proceeds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from basso.pipeline import Pipeline
from basso.store.capital import deposit_if_empty
from basso.store.fence import take_fence
from tests.web.conftest import NOW, Webhook
from tests.web.test_pipeline_actors import Outcomes
from tests.web.test_webhook import payload


class Poison(Exception):
    """The executor cannot handle this signal."""


async def test_a_poison_signal_is_buried_with_its_error_and_the_next_signal_is_processed(webhook: Webhook) -> None:
    pool = webhook.services.pool
    async with pool.acquire() as conn:
        epoch = await take_fence(conn, "test", "solo")
        await deposit_if_empty(conn, epoch=epoch, amount=Decimal(5_000_000), at=NOW)
    crashes: list[str] = []

    def fault(path: str) -> None:
        # The executor fails on the first three deliveries it gets: all three are the first signal's.
        if path.endswith("executor") and len(crashes) < 3:
            crashes.append(path)
            raise Poison("gold feed corrupt")

    outcomes = Outcomes()
    pipeline = Pipeline(pool=pool, config=webhook.services.config, epoch=epoch, fault=fault, on_commit=outcomes,
                        wall_clock=lambda: datetime(2026, 11, 25, 5, 1, tzinfo=UTC))
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
    assert (letter["actor"], letter["attempts"]) == ("basso/trading/executor", 3)
    assert letter["error"] == "Poison: gold feed corrupt"
