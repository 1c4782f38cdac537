"""The pipeline as supervised actors: webhook → Sizer → RiskGuard → executor → Persister, in order, once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson

from basso.enums import LedgerKind
from basso.pipeline import Runtime
from basso.rules.signals import signal_from_object
from basso.store.capital import move_capital
from basso.store.fence import take_fence
from basso.store.inbox import store_signal
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader
from tests.web.conftest import NOW, Trading, Webhook
from tests.web.test_webhook import payload


async def test_signals_flow_through_the_actors_in_order_with_one_outcome_each(trading: Trading) -> None:
    webhook, outcomes = trading.webhook, trading.outcomes
    bodies = [
        payload("BASE_ENTRY_BANK_NIFTY"),
        payload("BASE_ENTRY_GOLD_MINI"),
        payload("PYRAMID_BANK_NIFTY_LONG_2", timestamp="2026-11-25T10:30:05"),
        payload("EXIT_STOP_LOSS", timestamp="2026-11-25T10:30:10"),
        payload("EXIT_TRAILING_STOP", timestamp="2026-11-25T10:30:15"),
    ]
    for body in bodies:
        status, _reply = await webhook.post(orjson.dumps(body))
        assert status == 200
    await outcomes.wait_for(5)
    rows = await webhook.services.pool.fetch("SELECT id, kind, outcome FROM signals ORDER BY id")
    assert [r["id"] for r in rows] == outcomes.committed  # committed in arrival order
    assert [(r["kind"], r["outcome"]) for r in rows] == [
        ("BASE_ENTRY", "executed"),
        ("BASE_ENTRY", "executed"),
        ("PYRAMID", "blocked"),
        ("EXIT", "executed"),
        ("EXIT", "ignored"),
    ]
    # Gold Mini 72,000 / stop 71,500 / ATR 500 / ER 0.75 at equity 49,99,220 (after BN's ₹780 commission):
    # Lot-R = 24,996.1 ÷ 5,000 × 0.75 = 3.749, Lot-V = 9,998.44 ÷ 5,000 = 1.9997, Lot-M = 27.9 ⇒ 1 lot,
    # volatility-limited.
    gold = await webhook.services.pool.fetchrow("SELECT decision FROM signals WHERE instrument = 'GOLD_MINI'")
    assert gold is not None
    decision = orjson.loads(gold["decision"])
    assert (decision["lots"], decision["limiter"]) == (1, "volatility")


async def test_a_killed_actor_loses_no_signal(trading: Trading) -> None:
    webhook, pipe, outcomes = trading.webhook, trading.pipeline, trading.outcomes
    pipe.gate.set_recovered(False)  # hold the pipeline while we queue work and kill actors
    for i in range(3):
        status, _ = await webhook.post(
            orjson.dumps(
                payload("BASE_ENTRY_BANK_NIFTY", signal_id=f"s{i}", instrument="GOLD_MINI" if i == 1 else "BANK_NIFTY")
            )
        )
        assert status == 200
    for path in ("trading/receiver", "trading/sizer", "trading/stop_trailer", "trading/executor", "persister"):
        task = pipe.root.cell(path).task
        assert task is not None
        task.cancel()
    pipe.open()
    await outcomes.wait_for(3)
    outcomes_by_id = [
        r["outcome"] for r in await webhook.services.pool.fetch("SELECT outcome FROM signals ORDER BY id")
    ]
    # BN base executes; Gold base executes; the third (BN Long_1 again) is rejected: Long_1 is already open.
    assert outcomes_by_id == ["executed", "executed", "rejected"]


async def test_capital_moved_while_the_sizer_holds_its_book_is_not_overlooked(trading: Trading) -> None:
    webhook, pipe, outcomes = trading.webhook, trading.pipeline, trading.outcomes
    status, _ = await webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY")))
    assert status == 200
    await outcomes.wait_for(1)  # the Sizer now holds the book after the Bank Nifty entry
    async with webhook.services.pool.acquire() as conn:
        await move_capital(
            conn, epoch=pipe.epoch, kind=LedgerKind.DEPOSIT, amount=Decimal(1_000_000), at=NOW, note="top-up"
        )
    status, _ = await webhook.post(orjson.dumps(payload("BASE_ENTRY_GOLD_MINI")))
    assert status == 200
    await outcomes.wait_for(2)
    # Equity 59,99,220 (₹50 L − ₹780 + ₹10 L): Lot-V = 59,99,220 × 0.2 % ÷ (500 × 10) = 2.3997, Lot-R = 29,996.1
    # ÷ 5,000 × 0.75 = 4.499 ⇒ 2 lots, volatility-limited. The book held before the deposit would give 1.
    gold = await webhook.services.pool.fetchrow("SELECT outcome, decision FROM signals WHERE instrument = 'GOLD_MINI'")
    assert gold is not None
    decision = orjson.loads(gold["decision"])
    assert (gold["outcome"], decision["lots"], decision["limiter"]) == ("executed", 2, "volatility")


async def test_a_newer_epoch_stops_this_instance_trading_and_it_writes_nothing(trading: Trading) -> None:
    webhook, pipe = trading.webhook, trading.pipeline
    pool = webhook.services.pool
    async with pool.acquire() as conn:
        assert await take_fence(conn, "other-host", "takeover") == pipe.epoch + 1
    status, _ = await webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY")))
    assert status == 200  # storing is not fenced: any instance takes webhooks
    await pipe.fence_lost.wait()
    await pipe.gate.wait_paused()
    assert not pipe.gate.leader
    assert await webhook.get("/leader") == (503, {"leader": False})
    assert pipe.root.cell("persister").failed == 0  # a lost fence is a demotion, not a crash
    assert await pool.fetchval("SELECT outcome FROM signals") == "pending"  # left for the new leader
    for table in ("positions", "orders", "dead_letters"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert await pool.fetchval("SELECT count(*) FROM ledger") == 1  # the deposit only


async def test_a_signal_stored_by_another_instance_is_found_by_the_sweep(webhook: Webhook) -> None:
    pool, config = webhook.services.pool, webhook.services.config
    epoch = await solo_leader(pool, NOW)
    outcomes = Outcomes()
    ticks: asyncio.Queue[None] = asyncio.Queue()

    async def sweep_clock(_seconds: float) -> None:
        await ticks.get()  # the test says when a sweep interval has passed

    pipeline = pipeline_for(pool, config, epoch, outcomes, runtime=Runtime(sweep_every_s=1.0, sleep=sweep_clock))
    await pipeline.start()
    pipeline.open()
    try:
        signal = signal_from_object(payload("BASE_ENTRY_BANK_NIFTY", signal_id="from-another-host"), config)
        # Stored as a follower would, its notification missed (as while the listening connection was down).
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("ALTER TABLE signals DISABLE TRIGGER signal_stored")
            await store_signal(conn, signal)
            await conn.execute("ALTER TABLE signals ENABLE TRIGGER signal_stored")
        assert await pool.fetchval("SELECT outcome FROM signals") == "pending"
        ticks.put_nowait(None)
        await outcomes.wait_for(1)
        assert await pool.fetchval("SELECT outcome FROM signals") == "executed"
    finally:
        await pipeline.stop()


async def test_a_signal_stored_by_another_instance_wakes_the_leader_through_postgresql(webhook: Webhook) -> None:
    # No sweep at all: only the notification of the stored signal (sql/003) can wake this pipeline.
    pool, config = webhook.services.pool, webhook.services.config
    epoch = await solo_leader(pool, NOW)
    outcomes = Outcomes()
    pipeline = pipeline_for(pool, config, epoch, outcomes)
    await pipeline.start()
    pipeline.open()
    try:
        async with pool.acquire() as follower:  # another connection, as another instance's would be
            for n, name in enumerate(("BASE_ENTRY_BANK_NIFTY", "BASE_ENTRY_GOLD_MINI")):
                await store_signal(follower, signal_from_object(payload(name, signal_id=f"from-host-b-{n}"), config))
                await asyncio.wait_for(outcomes.wait_for(n + 1), 30)
        stored = await pool.fetch("SELECT outcome FROM signals ORDER BY id")
        assert [r["outcome"] for r in stored] == ["executed", "executed"]
    finally:
        await pipeline.stop()
