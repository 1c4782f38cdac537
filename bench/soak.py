"""Soak: `basso run` on a durable embedded PostgreSQL under a steady 200 signals/s for `--minutes`.

The load starts once the instance leads and has recovered (/health/ready): it measures the steady state, not a
start. The mix is realistic rather than uniform: bar closes (MARKET_DATA) for four instruments most of the time, and
entries, pyramids and exits for Bank Nifty and Gold Mini in the proportions a trend follower's alerts have.
Every reply's latency is the acknowledgement time; at the end, end to end (`received_at` → `processed_at`, both
stamped by the server), the longest event-loop lag the server recorded (`basso_event_loop_lag_max_seconds` on
/metrics) and its resident memory (from /proc) after the first minute and at the end.

Prints one JSON line: ack_p50_ms, ack_p99_ms, ack_max_ms, e2e_p99_ms, loop_lag_max_ms, loop_lag_max_busy (the share
of the longest lag the server's loop thread spent on the CPU: near 1 our code held the loop, near 0 the machine
starved the process), loop_lags_over_20ms (of one measurement every 50 ms), gcN_collections and
gcN_pauses_over_20ms (the collector's runs by generation N, and those that held the loop over 20 ms),
load_average_1m (at the end), rss_start_mib (after the first minute), rss_end_mib, rss_growth_pct, signals,
acks_over_50ms (each also printed before it, with when it was sent), acks_over_50ms_in_checkpoint_flush and
checkpoints (from PostgreSQL's log).

    python bench/soak.py [--minutes 10] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from basso.embedded import EmbeddedPostgres, free_port
from basso.timeutil import IST

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhook import SECRET, percentile, serve  # a sibling script, not a package

BARS = {"BANK_NIFTY": (52_000, 350), "GOLD_MINI": (78_000, 450), "SILVER_MINI": (92_000, 900), "COPPER": (800, 9)}


class Mix:
    """Bar closes for four instruments; entries, pyramids and exits for two, in a plausible proportion."""

    def __init__(self) -> None:
        self.counter = itertools.count()
        self.layers = {"BANK_NIFTY": 0, "GOLD_MINI": 0}

    def next(self) -> bytes:
        n = next(self.counter)
        stamp = datetime.now(IST).replace(tzinfo=None, microsecond=0).isoformat()
        instrument = list(BARS)[n % 4]
        price, atr = BARS[instrument]
        body: dict[str, Any] = {
            "instrument": instrument,
            "price": price + n % 40,
            "timestamp": stamp,
            "secret": SECRET,
            "signal_id": f"soak-{os.getpid()}-{n}",
        }
        roll = n % 20
        if instrument in self.layers and roll in (0, 1):
            layers = self.layers[instrument]
            if layers == 0:
                self.layers[instrument] = 1
                body |= {
                    "type": "BASE_ENTRY",
                    "position": "Long_1",
                    "stop": price - 2 * atr,
                    "lots": 1,
                    "atr": atr,
                    "er": 0.8,
                    "supertrend": price - atr,
                }
            elif layers < 4 and roll == 0:
                self.layers[instrument] = layers + 1
                body |= {
                    "type": "PYRAMID",
                    "position": f"Long_{layers + 1}",
                    "stop": price - 2 * atr,
                    "lots": 1,
                    "atr": atr,
                    "er": 0.8,
                    "supertrend": price - atr,
                }
            else:
                self.layers[instrument] = 0
                body |= {"type": "EXIT", "position": "ALL", "reason": "soak"}
        else:
            body |= {"type": "MARKET_DATA", "atr": atr}
        return orjson.dumps(body)


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 if found else float("nan")


SLOW_MS = 50.0  # the target for the longest acknowledgement


async def wait_ready(port: int) -> None:
    """Until the instance leads and has recovered (/health/ready): the load is the steady state's. A request in the
    first tenth of a second after `basso run` starts serving waits for the lease and Recovery (25-36 ms, measured)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/health/ready") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)  # another process: poll, bounded
    raise RuntimeError("basso run was not ready within 30 s")


def checkpoint_syncs(server_log: Path) -> list[tuple[float, float]]:
    """When each checkpoint flushed the data files to disk (its last phase), as (start, end) in Unix seconds, from
    PostgreSQL's log (`log_checkpoints`, on by default; the default prefix starts with the time, here in UTC)."""
    syncs = []
    for line in server_log.read_text(errors="replace").splitlines():
        found = CHECKPOINT.match(line)
        if found:
            end = datetime.fromisoformat(f"{found['at']}+00:00").timestamp()
            syncs.append((end - float(found["sync"]), end))
    return syncs


def during_flush(at: float, ms: float, syncs: list[tuple[float, float]]) -> bool:
    """Whether a request sent at `at` and answered `ms` later overlapped a checkpoint's flush (give or take 0.5 s)."""
    return any(start - 0.5 <= at + ms / 1000 and at <= end + 0.5 for start, end in syncs)


CHECKPOINT = re.compile(r"^(?P<at>\S+ \S+) UTC \[\d+\] LOG:  checkpoint complete: .* sync=(?P<sync>[\d.]+) s")


async def load(
    url: str,
    rate: float,
    seconds: float,
    mix: Mix,
    latencies: list[float],
    pid: int,
    rss: list[float],
    slow: list[tuple[float, float]],
) -> None:
    """`rate` requests a second for `seconds`; the RSS is sampled after the first minute; each acknowledgement
    slower than SLOW_MS goes in `slow` as (when it was sent, Unix seconds; how long it took, ms)."""
    start = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one(body: bytes) -> None:
            sent, sent_at = time.perf_counter(), time.time()
            async with session.post(url, data=body) as response:
                await response.read()
                if response.status == 200:
                    latencies.append(took := (time.perf_counter() - sent) * 1000)
                    if took > SLOW_MS:
                        slow.append((sent_at, took))

        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator
            if not rss and time.perf_counter() - start >= min(60.0, seconds / 2):
                rss.append(await asyncio.to_thread(rss_mib, pid))
            task = asyncio.create_task(one(mix.next()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        database_url = postgres.start()
        port = free_port()
        process = await serve(database_url, Path(tmp) / "data", port)
        try:
            await wait_ready(port)
            latencies: list[float] = []
            rss: list[float] = []
            slow: list[tuple[float, float]] = []
            url = f"http://127.0.0.1:{port}/webhook"
            await load(url, args.rate, args.minutes * 60, Mix(), latencies, process.pid, rss, slow)
            rss.append(await asyncio.to_thread(rss_mib, process.pid))
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as r:
                metrics = await r.text()
            lag_max = gauge(metrics, "basso_event_loop_lag_max_seconds")
            lag_busy = gauge(metrics, "basso_event_loop_lag_max_busy_ratio")
            lags = gauge(metrics, "basso_event_loop_lag_seconds_count")
            lags_within_20ms = gauge(metrics, 'basso_event_loop_lag_seconds_bucket{le="0.02"}')
            # Whether the collector made the long lags: its pauses by generation, and those over 20 ms.
            collections = {
                g: (
                    gauge(metrics, f'basso_gc_pause_seconds_count{{generation="{g}"}}'),
                    gauge(metrics, f'basso_gc_pause_seconds_bucket{{generation="{g}",le="0.02"}}'),
                )
                for g in (0, 1, 2)
            }
            load_average = os.getloadavg()[0]
            pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
            assert pool is not None
            for _ in range(600):
                if not await pool.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'"):
                    break
                await asyncio.sleep(0.1)  # the server is another process: poll, bounded
            e2e = [
                float(r["ms"])
                for r in await pool.fetch(
                    "SELECT extract(epoch FROM processed_at - received_at) * 1000 AS ms FROM signals"
                )
            ]
            await pool.close()
        finally:
            process.terminate()
            await process.wait()
            postgres.stop()
            # A slow acknowledgement while a checkpoint flushed the data files waited for the disk: the WAL flush of
            # its commit queued behind the checkpoint's (one device). Within half a second of that phase counts.
            syncs = checkpoint_syncs(Path(tmp) / "pg" / "server.log")
    in_sync = [(at, ms) for at, ms in slow if during_flush(at, ms, syncs)]
    for at, ms in sorted(slow, key=lambda s: -s[1])[:10]:
        during = " (during a checkpoint's flush)" if (at, ms) in in_sync else ""
        print(f"slow acknowledgement: {ms:.1f} ms at {datetime.fromtimestamp(at):%H:%M:%S.%f}{during}", file=sys.stderr)
    return {
        "ack_p50_ms": round(percentile(latencies, 50), 2),
        "ack_p99_ms": round(percentile(latencies, 99), 2),
        "ack_max_ms": round(max(latencies), 1),
        "e2e_p99_ms": round(percentile(e2e, 99), 1),
        "loop_lag_max_ms": round(lag_max * 1000, 1),
        # How much of the longest lag the server's loop thread spent on the CPU: near 1 our code, near 0 starved.
        "loop_lag_max_busy": round(lag_busy, 2),
        "loop_lags_over_20ms": int(lags - lags_within_20ms),
        **{f"gc{g}_collections": whole(count) for g, (count, _) in collections.items()},
        **{f"gc{g}_pauses_over_20ms": whole(count - within) for g, (count, within) in collections.items()},
        "load_average_1m": round(load_average, 2),
        "rss_start_mib": round(rss[0], 1),
        "rss_end_mib": round(rss[-1], 1),
        "rss_growth_pct": round((rss[-1] / rss[0] - 1) * 100, 1),
        "signals": len(e2e),
        "minutes": args.minutes,
        f"acks_over_{SLOW_MS:g}ms": len(slow),
        f"acks_over_{SLOW_MS:g}ms_in_checkpoint_flush": len(in_sync),
        "checkpoints": len(syncs),
    }


def whole(value: float) -> int:
    """A count from /metrics (absent: a generation never collected, 0)."""
    return 0 if value != value else int(value)  # NaN is the one value not equal to itself


def gauge(metrics: str, name: str) -> float:
    """One sample's value in a /metrics exposition (NaN if it is absent)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else float("nan")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    figures = asyncio.run(main(parser.parse_args()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", file=sys.stderr)
    print(json.dumps(figures))
