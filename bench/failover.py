"""Failover: how long trading stops when the leader dies or hands over, and how long a start takes on a big
database.

Two `basso run` processes (the process tests' harness, tests/processes.py) on one embedded PostgreSQL
(durable) and one embedded Redis, and a stream of bar closes (MARKET_DATA) sent to whichever instances are up,
20 a second. Each trial finds the leader, waits a random moment (up to a second, from `--seed`), then
`kill -9`s it (crash) or sends it SIGTERM (graceful), and measures from that moment to the first signal processed
under the new leader's epoch (`signals.processed_at`, stamped by the server on the same machine); the stopped
instance is then started again as the standby for the next trial.

Why the random moment: a crash leaves the lease to run out, so it costs the TTL less the time since the leader's
last renewal (every 0.4-0.5 s). Killed as soon as it is found, the leader died at nearly the same point of its
renewal cycle in every trial of a run (the restart before it takes about the same time each time), and a run's
median measured that one point: 2.68 s in one run, 3.04 s in the next. A crash comes at any moment.

`recovery_s`: one instance started on a database holding 1,000 open layers (across 167 configured
instruments: at most six live layers each) and 1,000,000 processed signals, from the process's start to the
Recovery's log line (the gate opens right after it); `recovery_only_s` from taking the lease to that line.

Prints one JSON line: crash_failover_s and graceful_handover_s (median and max); crash_after_expiry_s, the part
of a crash's figure after the lease ran out (the lease's time left is read just before the kill); recovery_s and
recovery_only_s.

    python bench/failover.py [--trials 10] [--signals 1000000] [--layers 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the process tests' harness
from basso.config import load_config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from basso.store.migrations import migrate
from basso.timeutil import IST
from tests.processes import SECRET, Instance, running

CONFIG = "[server]\nrate_limit_per_minute = 100000000\n"


def bar(n: int) -> bytes:
    stamp = datetime.now(IST).replace(tzinfo=None, microsecond=0).isoformat()
    return orjson.dumps(
        {
            "type": "MARKET_DATA",
            "instrument": "GOLD_MINI",
            "price": 78_000 + n % 100,
            "atr": 450,
            "timestamp": stamp,
            "secret": SECRET,
            "signal_id": f"failover-{os.getpid()}-{n}",
        }
    )


async def stream(session: aiohttp.ClientSession, instances: list[Instance], stop: asyncio.Event) -> None:
    """Bar closes, 20 a second, each to the next instance that is up (a refused one is simply skipped)."""
    counter = itertools.count()
    while not stop.is_set():
        n = next(counter)
        for instance in (instances[n % 2], instances[(n + 1) % 2]):
            try:
                async with session.post(f"{instance.url}/webhook", data=bar(n)) as response:
                    if response.status == 200:
                        break
            except (aiohttp.ClientError, TimeoutError):
                continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)  # pacing the load, not synchronising


async def leader(session: aiohttp.ClientSession, instances: list[Instance]) -> Instance:
    for _ in range(600):
        for instance in instances:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{instance.url}/leader") as response:
                    if response.status == 200:
                        return instance
        await asyncio.sleep(0.05)  # polling another process's state
    raise RuntimeError("no leader within 30 s")


async def first_processed_after(pool: asyncpg.Pool, epoch: int) -> float:
    """When (epoch seconds) the first signal was processed under an epoch newer than `epoch`."""
    for _ in range(3000):
        found = await pool.fetchval("SELECT extract(epoch FROM min(processed_at)) FROM signals WHERE epoch > $1", epoch)
        if found is not None:
            return float(found)
        await asyncio.sleep(0.01)  # polling another process's commits
    raise RuntimeError("no signal processed by a new leader within 30 s")


async def trials(args: argparse.Namespace, tmp: Path, database_url: str, redis_url: str) -> dict[str, list[float]]:
    config = tmp / "failover.toml"
    config.write_text(CONFIG)
    env = {"BASSO_CONFIG": str(config)}
    names = ["a", "b"]  # each instance's data directory, on which it is started again
    # after_expiry: of a crash, the part after the lease ran out (taking it, the fence, Recovery, the first signal)
    results: dict[str, list[float]] = {"crash": [], "graceful": [], "after_expiry": []}
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:

        async def start(name: str) -> Instance:
            return await stack.enter_async_context(running(database_url, redis_url, tmp / name, env))

        instances = [await start(name) for name in names]
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        stack.push_async_callback(pool.close)
        redis = aioredis.from_url(redis_url)  # to read the lease's time left
        stack.push_async_callback(redis.aclose)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                sender = asyncio.create_task(stream(session, instances, stop))
                moment, key = random.Random(args.seed), load_config().leadership.key
                for kind in ["crash", "graceful"] * args.trials:
                    current = await leader(session, instances)
                    await first_processed_after(pool, await pool.fetchval("SELECT epoch FROM leader_fence") - 1)
                    await asyncio.sleep(moment.uniform(0.0, 1.0))  # any point of the renewal cycle (see above)
                    epoch = await pool.fetchval("SELECT epoch FROM leader_fence")
                    lease_left = await redis.pttl(key) / 1000
                    stopped_at = time.time()
                    current.process.send_signal(signal.SIGKILL if kind == "crash" else signal.SIGTERM)
                    resumed_at = await first_processed_after(pool, epoch)
                    results[kind].append(resumed_at - stopped_at)
                    if kind == "crash":
                        results["after_expiry"].append(resumed_at - stopped_at - lease_left)
                    print(f"{kind}: {resumed_at - stopped_at:.3f} s", file=sys.stderr)
                    await current.process.wait()
                    index = instances.index(current)
                    instances[index] = await start(names[index])
                stop.set()
                await sender
        finally:
            for instance in instances:
                if instance.process.returncode is None:
                    await instance.terminate()
    return results


def instruments_config(count: int) -> str:
    """`count` copies of Gold Mini under new names: enough instruments for the open layers (six each)."""
    base = """
[instruments.{name}]
exchange = "MCX"
calendar = "MCX"
symbol_root = "{name}"
traded_as = "future"
lot_size = 10
quote_unit = 1
tick = 1
margin_per_lot = 60000
initial_risk_pct = 0.5
ongoing_risk_pct = 1.0
initial_vol_pct = 0.2
ongoing_vol_pct = 0.3
initial_stop_atr = 2.0
trailing_stop_atr = 3.0
max_pyramids = 5
roll_days = 5
market_open = "09:00"
market_close = "23:30"
[instruments.{name}.expiry]
rule = "day_of_month"
day = 19
"""
    return CONFIG + "".join(base.format(name=f"BENCH{i:03d}") for i in range(count))


async def fill(database_url: str, signals: int, layers: int) -> None:
    """`signals` processed signals and `layers` open layers (six per instrument), with their ledger rows."""
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        await conn.execute(
            """
            INSERT INTO signals (key, kind, instrument, layer, signal_time, received_at, payload, outcome,
                                 processed_at, epoch)
            SELECT 'bench-' || n, 'MARKET_DATA', 'GOLD_MINI', NULL, now() - make_interval(secs => $1 - n),
                   now() - make_interval(secs => $1 - n),
                   '{"type": "MARKET_DATA", "instrument": "GOLD_MINI", "price": 78000, "atr": 450}'::jsonb,
                   'ignored', now() - make_interval(secs => $1 - n), 1
            FROM generate_series(1, $1::int) AS n""",
            signals,
        )
        await conn.execute("INSERT INTO ledger (at, kind, amount, note) VALUES (now(), 'deposit', 5000000, 'bench')")
        await conn.execute(
            """
            INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,
                                   highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)
            SELECT 'BENCH' || lpad(((n - 1) / 6)::text, 3, '0'), (n - 1) % 6 + 1, 'open', 1, 5000, 4900, 4900,
                   5000, 50, 10, 60000, now(), n
            FROM generate_series(1, $1::int) AS n""",
            layers,
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def recovery(tmp: Path, database_url: str, redis_url: str, signals: int, layers: int) -> tuple[float, float]:
    config = tmp / "recovery.toml"
    config.write_text(instruments_config((layers + 5) // 6))
    await fill(database_url, signals, layers)
    env = {"BASSO_CONFIG": str(config)}
    async with running(database_url, redis_url, tmp / "recovering", env) as instance:
        recovered = await instance.when_logged("recovered for epoch", limit_s=120)
        leading = await instance.when_logged("leading: lease", limit_s=120)
        line = await instance.wait_log("recovered for epoch")
        if f"{layers} open layer(s)" not in line:
            raise RuntimeError(f"Recovery did not find the {layers} layers: {line}")
        await instance.terminate()
        return recovered - instance.started, recovered - leading


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        postgres, redis = EmbeddedPostgres(tmp / "pg"), EmbeddedRedis(tmp / "redis")
        database_url, redis_url = postgres.start(), redis.start()
        try:
            results = await trials(args, tmp, database_url, redis_url)
            admin = await asyncpg.connect(database_url)
            try:
                await admin.execute("CREATE DATABASE recovery")
            finally:
                await admin.close()
            await redis_flush(redis_url)
            big = database_url.rsplit("/", 1)[0] + "/recovery"
            recovery_s, recovery_only_s = await recovery(tmp, big, redis_url, args.signals, args.layers)
        finally:
            redis.stop()
            postgres.stop()
    return {
        "crash_failover_s": summary(results["crash"]),
        "graceful_handover_s": summary(results["graceful"]),
        "crash_after_expiry_s": summary(results["after_expiry"]),
        "recovery_s": round(recovery_s, 3),
        "recovery_only_s": round(recovery_only_s, 3),
        "trials": args.trials,
    }


async def redis_flush(url: str) -> None:
    client = aioredis.from_url(url)
    await client.flushall()
    await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="of each kind, crash and graceful")
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--layers", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1, help="of the moments the leader is stopped at")
    figures = asyncio.run(main(parser.parse_args()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", file=sys.stderr)
    print(json.dumps(figures))
