"""Market-data benchmark: bar closes processed end to end by the running pipeline.

    python bench/market_data.py [--bars 5000] [--no-fsync]

A durable embedded PostgreSQL (fsync on unless --no-fsync), the live pipeline as `basso run` builds it (solo
leader, paper broker), and 50 open layers: six in each of eight instruments and two in a ninth (Basso ships
four; the other five are copies of Gold Mini under other names, because an instrument holds at most six
layers). The bars are stored in the inbox first, as the webhook stores them, then the pipeline is woken: the
SignalReceiver hands them to the StopTrailer in batches of the bar closes pending in a row (up to
basso.actors.receiver.BATCH), which trails every layer of its instrument bar after bar (prices rise a little
each bar, so every stop moves and none is hit), and the Persister commits each batch's stop moves and marks in one
fenced transaction. The clock runs from the wake to the last bar's commit.

Prints the figures, then one JSON line: {"bars_per_s": …, "bars": …, "layers": …, "fsync": …}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from basso.config import Config, load_config
from basso.embedded import EmbeddedPostgres
from basso.messages import Settled
from basso.pipeline import Hooks, Pipeline
from basso.rules.signals import signal_from_object
from basso.store.capital import deposit_if_empty
from basso.store.fence import take_fence
from basso.store.inbox import store_signal
from basso.store.migrations import migrate

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # Wednesday 10:30 IST
COPIES = ("GOLD_A", "GOLD_B", "GOLD_C", "GOLD_D", "GOLD_E")
LAYERS = 50


def bench_config() -> Config:
    """The shipped configuration with five more Gold Mini-like instruments."""
    config = load_config()
    gold = config.instruments["GOLD_MINI"]
    return replace(config, instruments={**config.instruments, **{name: replace(gold, name=name) for name in COPIES}})


def layout(config: Config) -> list[tuple[str, int]]:
    """(instrument, layer) for the 50 open layers."""
    slots = [(name, layer) for name in sorted(config.instruments) for layer in range(1, 7)]
    return slots[:LAYERS]


async def seed(pool: asyncpg.Pool, config: Config) -> tuple[int, dict[str, float]]:
    """The fence, ₹10,000 crore deposited (so no layer is large enough to peel off), the 50 layers and their marks;
    the epoch and each instrument's starting price."""
    prices = {name: 1_000.0 * (i + 50) for i, name in enumerate(sorted(config.instruments))}
    async with pool.acquire() as conn:
        epoch = await take_fence(conn, "bench", "solo")
        await deposit_if_empty(conn, epoch=epoch, amount=Decimal(100_000_000_000), at=NOW)
        signal = await conn.fetchval(
            "INSERT INTO signals (key, kind, instrument, signal_time, payload, outcome, reason, processed_at)"
            " VALUES ('seed', 'BASE_ENTRY', 'GOLD_MINI', $1, '{}'::jsonb, 'executed', 'seeded', $1) RETURNING id",
            NOW,
        )
        for name, layer in layout(config):
            price = prices[name]
            await conn.execute(
                "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
                " highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)"
                " VALUES ($1, $2, 'open', 1, $3, $4, $4, $3, $5, $6, 1000, $7, $8)",
                name,
                layer,
                price,
                price * 0.99,
                price * 0.01,
                config.instruments[name].point_value,
                NOW,
                signal,
            )
        for name, price in prices.items():
            await conn.execute(
                "INSERT INTO instrument_marks (instrument, price, atr, at) VALUES ($1, $2, $3, $4)",
                name,
                price,
                price * 0.01,
                NOW,
            )
    return epoch, prices


async def store_bars(pool: asyncpg.Pool, config: Config, prices: dict[str, float], bars: int) -> None:
    """`bars` bar closes, round-robin over the instruments with layers, each a little above the last."""
    names = sorted({name for name, _layer in layout(config)})
    async with pool.acquire() as conn, conn.transaction():
        for n in range(bars):
            name = names[n % len(names)]
            prices[name] += 1.0
            body = {
                "type": "MARKET_DATA",
                "instrument": name,
                "price": prices[name],
                "atr": prices[name] * 0.001,
                "timestamp": "2026-11-25T10:30:00",
                "signal_id": f"bar-{n}",
            }
            await store_signal(conn, signal_from_object(body, config))


async def run(database_url: str, bars: int) -> dict[str, float]:
    config = bench_config()
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=8)
    assert pool is not None
    async with pool.acquire() as conn:
        await migrate(conn)
    epoch, prices = await seed(pool, config)
    await store_bars(pool, config, prices, bars)
    done = asyncio.Event()
    committed = 0

    def on_commit(_settled: Settled) -> None:
        nonlocal committed
        committed += 1
        if committed == bars:
            done.set()

    pipeline = Pipeline(pool=pool, config=config, epoch=epoch, wall_clock=lambda: NOW, hooks=Hooks(on_commit=on_commit))
    await pipeline.start()
    started = time.perf_counter()
    pipeline.open()
    try:
        await asyncio.wait_for(done.wait(), 600)
    finally:
        elapsed = time.perf_counter() - started
        await pipeline.stop()
    moved = await pool.fetchval("SELECT count(*) FROM positions WHERE status = 'open' AND current_stop > initial_stop")
    exits = await pool.fetchval("SELECT count(*) FROM positions WHERE status = 'closed'")
    await pool.close()
    assert exits == 0, f"{exits} layers exited: the bench trails, it does not exit"
    assert moved == LAYERS, f"only {moved} of {LAYERS} stops trailed"
    return {"bars_per_s": round(bars / elapsed, 1), "bars": bars, "layers": LAYERS, "seconds": round(elapsed, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=5_000)
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL without fsync (not durable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg", fsync=not args.no_fsync)
        try:
            result = asyncio.run(run(postgres.start(), args.bars))
        finally:
            postgres.stop()
    load = os.getloadavg()[0]
    print(
        f"{result['bars']} bar closes, {LAYERS} open layers trailed, committed in batches: "
        f"{result['bars_per_s']:,.0f} bars/s ({result['seconds']} s) on {platform.processor() or platform.machine()}"
        f" with {os.cpu_count()} cores, load {load:.1f}, fsync {'off' if args.no_fsync else 'on'}"
    )
    print(json.dumps({**result, "fsync": not args.no_fsync, "load": round(load, 1)}))


if __name__ == "__main__":
    main()
