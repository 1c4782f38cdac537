"""The pipeline as supervised actors: webhook → Sizer → RiskGuard → executor → Persister, in order, once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import orjson
import pytest

from basso.messages import Settled
from basso.pipeline import Pipeline
from basso.store.capital import deposit_if_empty
from basso.store.fence import take_fence
from tests.web.conftest import NOW, Webhook
from tests.web.test_webhook import payload


class Outcomes:
    """Counts committed outcomes so a test can wait for the n-th without sleeping."""

    def __init__(self) -> None:
        self.committed: list[int] = []
        self._changed = asyncio.Event()

    def __call__(self, settled: Settled) -> None:
        self.committed.append(settled.pending.id)
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.committed) < count:
            self._changed.clear()
            await self._changed.wait()

    async def wait_until_none_pending(self, pool: asyncpg.Pool, *, limit_s: float = 30.0) -> None:
        """Return once no stored signal is pending. A commit whose reply was lost to a crash is found
        'already processed' on retry and reported by no callback, so after each quiet second the database
        itself is asked."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while await pool.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'"):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"signals still pending after {limit_s} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_for(len(self.committed) + 1), 1.0)


@pytest.fixture
async def pipeline(webhook: Webhook) -> AsyncIterator[tuple[Pipeline, Outcomes]]:
    async with webhook.services.pool.acquire() as conn:
        epoch = await take_fence(conn, "test", "solo")
        await deposit_if_empty(conn, epoch=epoch, amount=Decimal(5_000_000), at=NOW)
    outcomes = Outcomes()
    pipeline = Pipeline(pool=webhook.services.pool, config=webhook.services.config, epoch=epoch,
                        wall_clock=lambda: datetime(2026, 11, 25, 5, 1, tzinfo=UTC), on_commit=outcomes)
    webhook.services.wake_processor = pipeline.wake
    await pipeline.start()
    pipeline.open()
    yield pipeline, outcomes
    await pipeline.stop()


async def test_signals_flow_through_the_actors_in_order_with_one_outcome_each(
        webhook: Webhook, pipeline: tuple[Pipeline, Outcomes]) -> None:
    _, outcomes = pipeline
    bodies = [payload("BASE_ENTRY_BANK_NIFTY"), payload("BASE_ENTRY_GOLD_MINI"),
              payload("PYRAMID_BANK_NIFTY_LONG_2", timestamp="2026-11-25T10:30:05"),
              payload("EXIT_STOP_LOSS", timestamp="2026-11-25T10:30:10"),
              payload("EXIT_TRAILING_STOP", timestamp="2026-11-25T10:30:15")]
    for body in bodies:
        status, _reply = await webhook.post(orjson.dumps(body))
        assert status == 200
    await outcomes.wait_for(5)
    rows = await webhook.services.pool.fetch("SELECT id, kind, outcome FROM signals ORDER BY id")
    assert [r["id"] for r in rows] == outcomes.committed  # committed in arrival order
    assert [(r["kind"], r["outcome"]) for r in rows] == [
        ("BASE_ENTRY", "executed"), ("BASE_ENTRY", "executed"), ("PYRAMID", "blocked"), ("EXIT", "executed"),
        ("EXIT", "ignored")]
    # Gold Mini 72,000 / stop 71,500 / ATR 500 / ER 0.75 at equity 49,99,220 (after BN's ₹780 commission):
    # Lot-R = 24,996.1 ÷ 5,000 × 0.75 = 3.749, Lot-V = 9,998.44 ÷ 5,000 = 1.9997, Lot-M = 27.9 ⇒ 1 lot,
    # volatility-limited.
    gold = await webhook.services.pool.fetchrow("SELECT decision FROM signals WHERE instrument = 'GOLD_MINI'")
    assert gold is not None
    decision = orjson.loads(gold["decision"])
    assert (decision["lots"], decision["limiter"]) == (1, "volatility")


async def test_a_killed_actor_loses_no_signal(webhook: Webhook, pipeline: tuple[Pipeline, Outcomes]) -> None:
    pipe, outcomes = pipeline
    pipe.gate.set_recovered(False)  # hold the pipeline while we queue work and kill actors
    for i in range(3):
        status, _ = await webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY", signal_id=f"s{i}",
                                                            instrument="GOLD_MINI" if i == 1 else "BANK_NIFTY")))
        assert status == 200
    for path in ("trading/sizer", "trading/executor", "persister"):
        task = pipe.root.cell(path).task
        assert task is not None
        task.cancel()
    pipe.open()
    await outcomes.wait_for(3)
    outcomes_by_id = [r["outcome"] for r in await webhook.services.pool.fetch("SELECT outcome FROM signals ORDER BY id")]
    # BN base executes; Gold base executes; the third (BN Long_1 again) is rejected: Long_1 is already open.
    assert outcomes_by_id == ["executed", "executed", "rejected"]
