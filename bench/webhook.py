"""Webhook benchmark: `basso run` in its own process, loaded from this one over loopback.

Phases (against a durable embedded PostgreSQL, fsync on, paper broker):
1. fixed rate: `--rate` requests/s for `--duration` s; each reply's latency is the acknowledgement time
   (validated, authenticated and committed to the inbox);
2. flat out: `--clients` concurrent senders for `--burst` s, accepted replies per second;
3. end to end: from each signal's `received_at` to its outcome's `processed_at` (both stamped by the server),
   the p99 at the fixed rate of phase 1; the processing rate once phase 2's senders have stopped and the
   backlog they left drains (the pipeline alone), and, for comparison, while they were still sending (the
   pipeline sharing the two cores with 1,000+ webhook requests a second).

Prints the figures, then one JSON line: ack_p50_ms, ack_p99_ms, max_accepted_per_s, e2e_p99_ms,
e2e_signals_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from basso.embedded import EmbeddedPostgres, free_port
from basso.timeutil import IST

SECRET = "bench-secret"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


class Signals:
    """An endless stream of distinct, valid signals: bars, and Bank Nifty / Gold Mini entries and exits."""

    def __init__(self) -> None:
        self.counter = itertools.count()

    def next(self) -> bytes:
        n = next(self.counter)
        stamp = datetime.now(IST).replace(tzinfo=None, microsecond=0).isoformat()  # IST wall clock, as TradingView
        instrument, price, atr = ("BANK_NIFTY", 52_000 + n % 50, 350) if n % 2 else ("GOLD_MINI", 78_000, 450)
        kind = n % 6
        body: dict[str, Any] = {
            "instrument": instrument,
            "price": price,
            "timestamp": stamp,
            "secret": SECRET,
            "signal_id": f"bench-{os.getpid()}-{n}",
        }
        if kind in (0, 1):
            body |= {
                "type": "BASE_ENTRY",
                "position": "Long_1",
                "stop": price - 1.5 * atr,
                "lots": 1,
                "atr": atr,
                "er": 0.8,
                "supertrend": price - atr,
            }
        elif kind in (4, 5):
            body |= {"type": "EXIT", "position": "ALL", "reason": "bench"}
        else:
            body |= {"type": "MARKET_DATA", "atr": atr}
        return orjson.dumps(body)


async def fixed_rate(
    session: aiohttp.ClientSession, url: str, signals: Signals, rate: float, duration: float
) -> list[float]:
    latencies: list[float] = []
    start = time.perf_counter()

    async def one(body: bytes) -> None:
        sent = time.perf_counter()
        async with session.post(url, data=body) as response:
            await response.read()
            if response.status == 200:
                latencies.append((time.perf_counter() - sent) * 1000)

    tasks = []
    for i in range(int(rate * duration)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not synchronising a test
        tasks.append(asyncio.create_task(one(signals.next())))
    await asyncio.gather(*tasks)
    return latencies


async def flat_out(session: aiohttp.ClientSession, url: str, signals: Signals, clients: int, duration: float) -> int:
    accepted = 0
    end = time.perf_counter() + duration

    async def client() -> None:
        nonlocal accepted
        while time.perf_counter() < end:
            async with session.post(url, data=signals.next()) as response:
                await response.read()
                accepted += response.status == 200

    await asyncio.gather(*(client() for _ in range(clients)))
    return accepted


async def drained_backlog(pool: asyncpg.Pool) -> None:
    """Return once the server has processed every stored signal (it runs in another process: we poll)."""
    for _ in range(3000):
        if not await pool.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not drain its backlog within 300 s")


async def serve(
    database_url: str,
    data_dir: Path,
    port: int,
    gc_policy: str = "basso",
    *,
    launcher: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """`basso run` under bench/gcvariant.py's `gc_policy`, or under `launcher` (a script and its arguments that
    end with the CLI's: bench/heap.py's probes), once it serves."""
    # All load comes from one address: lift the per-source rate limit, which would otherwise measure itself.
    config = data_dir.parent / "bench.toml"
    config.write_text("[server]\nrate_limit_per_minute = 100000000\n")
    env = {
        **os.environ,
        **(extra_env or {}),
        "BASSO_DATABASE_URL": database_url,
        "BASSO_WEBHOOK_SECRET": SECRET,
        "BASSO_ADMIN_TOKEN": "bench",
        "BASSO_CONFIG": str(config),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *(launcher or (str(Path(__file__).with_name("gcvariant.py")), gc_policy)),
        "run",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    while b"serving on" not in (line := await process.stderr.readline()):
        if not line:
            raise RuntimeError("basso run did not start")
    # The server logs a line per outcome: a pipe nobody reads fills up and stops it mid-write.
    drain = asyncio.create_task(_discard(process.stderr), name="server log")
    _DRAINS.add(drain)
    drain.add_done_callback(_DRAINS.discard)
    return process


_DRAINS: set[asyncio.Task[None]] = set()


async def _discard(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def main(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg", fsync=not args.no_fsync)
        database_url = postgres.start()
        port = free_port()
        process = await serve(database_url, Path(tmp) / "data", port, args.gc)
        try:
            url = f"http://127.0.0.1:{port}/webhook"
            signals = Signals()
            connector = aiohttp.TCPConnector(limit=args.clients)
            async with aiohttp.ClientSession(connector=connector) as session:
                latencies = await fixed_rate(session, url, signals, args.rate, args.duration)
                burst_started = time.time()
                accepted = await flat_out(session, url, signals, args.clients, args.burst)
                burst_ended = time.time()
            pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
            assert pool is not None
            await drained_backlog(pool)
            # End-to-end latency at the fixed rate (phase 1), where no backlog of phase 2 inflates it.
            e2e = [
                r["ms"]
                for r in await pool.fetch(
                    "SELECT extract(epoch FROM processed_at - received_at) * 1000 AS ms FROM signals"
                    " WHERE received_at < to_timestamp($1)",
                    burst_started,
                )
            ]
            drained = await pool.fetchrow(
                "SELECT count(*) AS n, extract(epoch FROM max(processed_at)) - $1 AS s"
                " FROM signals WHERE processed_at >= to_timestamp($1)",
                burst_ended,
            )
            during = await pool.fetchval(
                "SELECT count(*) FROM signals WHERE processed_at >= to_timestamp($1)"
                " AND processed_at < to_timestamp($2)",
                burst_started,
                burst_ended,
            )
            await pool.close()
        finally:
            process.terminate()
            await process.wait()
            postgres.stop()
    assert drained is not None
    return {
        "ack_p50_ms": round(percentile(latencies, 50), 2),
        "ack_p99_ms": round(percentile(latencies, 99), 2),
        "max_accepted_per_s": round(accepted / args.burst, 1),
        "e2e_p99_ms": round(percentile([float(v) for v in e2e], 99), 1),
        "e2e_signals_per_s": round(drained["n"] / float(drained["s"] or 1), 1),
        "e2e_signals_per_s_while_ingesting": round(during / (burst_ended - burst_started), 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--burst", type=float, default=10.0)
    parser.add_argument(
        "--no-fsync", action="store_true", help="PostgreSQL without fsync (not durable: for comparison only)"
    )
    parser.add_argument(
        "--gc",
        choices=("basso", "cpython", "off"),
        default="basso",
        help="the server's garbage-collector policy (bench/gcvariant.py): for comparison",
    )
    figures = asyncio.run(main(parser.parse_args()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"acknowledgement at {parser.parse_args().rate:g}/s: p50 {figures['ack_p50_ms']} ms, "
        f"p99 {figures['ack_p99_ms']} ms"
    )
    print(f"flat out: {figures['max_accepted_per_s']} accepted/s")
    print(
        f"end to end: p99 {figures['e2e_p99_ms']} ms at the fixed rate; {figures['e2e_signals_per_s']} signals/s "
        f"processed draining a backlog, {figures['e2e_signals_per_s_while_ingesting']} while still ingesting"
    )
    print(json.dumps(figures))
