"""Recovery and the epoch of a decision: a pipeline that elects itself recovers before it trades, refuses
corrupt facts, and never commits a decision made under an earlier term of its own (real PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from basso.actors.base import ActorRef
from basso.actors.elector import LeaseStatus
from basso.actors.persister import Persister, PersisterContext
from basso.brokers.paper import paper_fill
from basso.config import Config
from basso.messages import Committed, Decided, ExecutorInbox, Filled, PersisterInbox, Place, ReceiverInbox, Settled
from basso.pipeline import Hooks, Leadership, Pipeline
from basso.rules.decisions import decide_payload
from basso.rules.orders import fill_book
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.fence import FenceLost, take_fence
from basso.store.inbox import store_signal
from basso.store.lease import RedisLease
from basso.supervisor import ChildSpec, Supervisor
from tests.pipeline_support import CAPITAL, PROCESSED_AT, Outcomes
from tests.store.test_outcomes import ENTRY, leader_with_an_entry

KEY = "basso:test-recovery"


def electing(pool: asyncpg.Pool, redis: aioredis.Redis, config: Config, outcomes: Outcomes) -> Pipeline:
    settings = replace(config.leadership, key=KEY)
    return Pipeline(
        pool=pool,
        config=config,
        wall_clock=lambda: PROCESSED_AT,
        leadership=Leadership(
            lease=RedisLease(redis, KEY, settings.lease_ttl_s), status=LeaseStatus("a", settings), capital=CAPITAL
        ),
        hooks=Hooks(on_commit=outcomes),
    )


async def test_a_new_leader_recovers_books_the_capital_and_then_trades_what_was_pending(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, config: Config
) -> None:
    await store_signal(pool, signal_from_object(ENTRY, config))  # stored while nobody led
    outcomes = Outcomes()
    pipeline = electing(pool, redis_client, config, outcomes)
    await pipeline.start()
    try:
        await asyncio.wait_for(outcomes.wait_for(1), 30)
        assert pipeline.gate.is_open
        epoch = pipeline.epoch
        assert await pool.fetchval("SELECT epoch FROM leader_fence") == epoch
        row = await pool.fetchrow("SELECT outcome, epoch FROM signals")
        assert row is not None
        assert (row["outcome"], row["epoch"]) == ("executed", epoch)
        # ₹50,00,000 deposited by Recovery, then 1 lot at 52,000 with ₹780 commission (as in test_outcomes).
        assert await pool.fetchval("SELECT sum(amount) FROM ledger") == Decimal("4999220.00")
    finally:
        await pipeline.stop()
    assert not pipeline.gate.is_open
    assert await redis_client.get(KEY) is None
    rows = await pool.fetch("SELECT epoch, holder, event FROM leadership_history ORDER BY id")
    assert [tuple(r) for r in rows] == [(epoch, "a", "gained"), (epoch, "a", "released")]


async def test_recovery_refuses_corrupt_facts_and_halts_before_trading(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, config: Config
) -> None:
    # A position in an instrument since removed from the configuration: Basso cannot price, stop or size it.
    stored = await store_signal(pool, signal_from_object(ENTRY, config))
    await pool.execute(
        "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
        " highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)"
        " VALUES ('CRUDE_OIL', 1, 'open', 2, 6000, 5900, 5900, 6000, 50, 100, 500000, now(), $1)",
        stored.id,
    )
    pipeline = electing(pool, redis_client, config, Outcomes())
    await pipeline.start()
    try:
        await asyncio.wait_for(pipeline.halted.wait(), 30)
        assert pipeline.halt_reason is not None
        assert "recovery refused the stored facts" in pipeline.halt_reason
        assert "instrument 'CRUDE_OIL' is not configured" in pipeline.halt_reason
        assert not pipeline.gate.is_open
        assert await pool.fetchval("SELECT outcome FROM signals") == "pending"  # nothing traded on it
    finally:
        await pipeline.stop()


async def test_a_decision_from_an_earlier_term_is_decided_again_not_committed(
    pool: asyncpg.Pool, config: Config
) -> None:
    # This instance led at `first`, decided the entry, then lost and regained the lead (`second`) before the
    # Persister got the decision: it must not commit, nor take the stale epoch for a lost fence.
    async with pool.acquire() as conn:
        first, pending = await leader_with_an_entry(conn, config, "a")
        book = await load_book(conn, config)
        decision = decide_payload(pending.payload, book, config)
        second = await take_fence(conn, "a", "lease acquired again")
    receiver: ActorRef[ReceiverInbox] = ActorRef("receiver")
    executor: ActorRef[ExecutorInbox] = ActorRef("executor")
    lost: list[FenceLost] = []
    committed: list[Settled] = []
    context = PersisterContext(
        pool=pool,
        config=config,
        epoch=lambda: second,
        wall_clock=lambda: PROCESSED_AT,
        receiver=receiver,
        executor=executor,
        on_commit=committed.append,
        on_fence_lost=lost.append,
    )
    persister: ActorRef[PersisterInbox] = ActorRef("persister")
    async with Supervisor(
        name="root", children=[ChildSpec(name="persister", factory=lambda: Persister(context), ref=persister)]
    ):
        await persister.tell(Decided(pending=pending, decision=decision, book=book, epoch=first))
        reply = await asyncio.wait_for(receiver.mailbox.get(), 10)
        assert isinstance(reply, Committed)
        assert (reply.signal_row, reply.book) == (pending.id, None)  # decide it again, from the facts
        assert await pool.fetchval("SELECT outcome FROM signals") == "pending"
        assert lost == []  # our fence is intact: only that decision was old
        assert len(executor.mailbox) == 0  # and no order went anywhere

        await persister.tell(Decided(pending=pending, decision=decision, book=book, epoch=second))
        place = await asyncio.wait_for(executor.mailbox.get(), 10)  # committed, then handed to the Executor
        assert isinstance(place, Place)
        working = place.working
        assert working is not None
        assert await pool.fetchval("SELECT epoch FROM signals") == second
        fills = tuple((ticket, paper_fill(ticket, config)) for ticket in working.tickets)
        await persister.tell(Filled(signal_row=pending.id, pending=pending, working=working, fills=fills, epoch=second))
        reply = await asyncio.wait_for(receiver.mailbox.get(), 10)
        assert isinstance(reply, Committed)  # the SignalReceiver hears once the paper fill is recorded
        expected = fill_book(
            working.book,
            fills,
            config,
            version=working.book.version + 1,
            drawdown_before=working.drawdown_before,
        )
        assert reply.book == expected.book
        # The facts give the same book; all time (no peak window) a book's own day peak is not one of the facts.
        loaded = await load_book(pool, config)
        assert replace(reply.book, day_peak=0.0) == replace(loaded, day_peak=0.0)
    assert len(committed) == 1


async def test_an_instance_whose_fence_was_taken_while_it_holds_its_lease_stops_and_says_why(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # A misconfiguration: two instances on one database, each electing itself on its own lease key. The later
    # one took the fence (and went away); the earlier one, still holding its own lease, may not write: its first
    # commit finds the fence taken, it stops trading, and its log names the likely cause.
    settings = replace(config.leadership, key=KEY)
    outcomes = Outcomes()
    first = Pipeline(
        pool=pool,
        config=config,
        wall_clock=lambda: PROCESSED_AT,
        leadership=Leadership(
            lease=RedisLease(redis_client, KEY, settings.lease_ttl_s),
            status=LeaseStatus("a", settings),
            capital=CAPITAL,
        ),
        hooks=Hooks(on_commit=outcomes),
    )
    other = replace(settings, key=KEY + "-other")
    second = Pipeline(
        pool=pool,
        config=config,
        wall_clock=lambda: PROCESSED_AT,
        leadership=Leadership(
            lease=RedisLease(redis_client, other.key, other.lease_ttl_s),
            status=LeaseStatus("b", other),
            capital=CAPITAL,
        ),
        hooks=Hooks(on_commit=outcomes),
    )
    await first.start()
    try:
        await asyncio.wait_for(first.gate.wait_open(), 30)  # a's term recovered (and the capital deposited)
        await second.start()
        await asyncio.wait_for(second.gate.wait_open(), 30)  # b took the fence after a
        await second.stop()
        assert second.epoch == first.epoch + 1
        await store_signal(pool, signal_from_object(ENTRY, config))
        await asyncio.wait_for(first.fence_lost.wait(), 30)
        assert not first.gate.is_open
    finally:
        await first.stop()
    assert outcomes.committed == []
    assert await pool.fetchval("SELECT outcome FROM signals") == "pending"  # for whoever rightly leads
    assert "do two instances use different [leadership] key values on one database?" in caplog.text
