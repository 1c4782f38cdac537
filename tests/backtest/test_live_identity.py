"""The backtest and the live pipeline decide identically: the same signal sequence, once through
`replay_basso` and once through the webhook inbox, the supervised actors and PostgreSQL, gives the same
outcome, reason and numbers for every signal, and the same positions and money at the end."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import orjson

from basso.backtest.bars import average_true_range
from basso.backtest.sized import replay_basso
from basso.backtest.synthetic import breakout_signals, random_walk_bars
from basso.config import Config
from basso.enums import SignalOutcome
from basso.rules.decisions import Decision
from basso.rules.signals import Signal
from basso.store.book import load_book
from basso.store.inbox import store_signal
from tests.backtest.test_basso_replay import START
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader


async def test_replay_and_live_pipeline_decide_every_signal_alike(migrated_database: str, config: Config) -> None:
    bars = random_walk_bars(
        "GOLD_MINI", 400, seed=11, start=START, price=60000.0, volatility=0.004, regime_switch=0.02, drift=0.0004
    )
    atrs = average_true_range(bars.highs, bars.lows, bars.closes, 10)
    strategy = breakout_signals(bars, atrs, lookback=20, stop_multiple=1.5, pyramids=3)
    seen: list[tuple[Signal, Decision]] = []
    result = replay_basso(
        strategy,
        {"GOLD_MINI": bars},
        {"GOLD_MINI": atrs},
        capital=5_000_000,
        config=config,
        fast=False,
        on_decision=lambda s, d: seen.append((s, d)),
    )
    executed = [d for _, d in seen if d.outcome is SignalOutcome.EXECUTED and (d.entries or d.exits)]
    assert len(executed) >= 5, "the scenario must trade"

    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=8)
    assert pool is not None
    epoch = await solo_leader(pool, START)
    for n, (sent, _) in enumerate(seen):
        signal = replace(sent, signal_id=f"replay-{n:05d}")  # supertrend is optional (docs/rules.md §9): none is sent
        await store_signal(pool, signal)
    outcomes = Outcomes()
    pipeline = pipeline_for(pool, config, epoch, outcomes)
    await pipeline.start()
    pipeline.open()
    await outcomes.wait_for(len(seen))
    await pipeline.stop()

    stored = await pool.fetch("SELECT outcome, reason, decision FROM signals ORDER BY id")
    assert len(stored) == len(seen)
    for n, (row, (_, decision)) in enumerate(zip(stored, seen, strict=True)):
        assert (row["outcome"], row["reason"]) == (decision.outcome.value, decision.reason), n
        assert orjson.loads(row["decision"]) == orjson.loads(orjson.dumps(decision.record)), n
    book = await load_book(pool, config)
    assert [(x.layer, x.lots, x.entry_price) for x in book.layers] == [
        (t.layer, t.lots, t.entry_price) for t in result.open
    ]
    # The same closed trades, and the same gross P&L booked to the ledger (commissions are checked by the
    # per-signal decisions and by the settlement both sides share).
    closed = await pool.fetch("SELECT layer, lots, realised_pnl FROM positions WHERE status = 'closed' ORDER BY id")
    assert sorted((r["layer"], r["lots"], r["realised_pnl"]) for r in closed) == sorted(
        (t.layer, t.lots, t.pnl + t.commission) for t in result.closed
    )
    await pool.close()
