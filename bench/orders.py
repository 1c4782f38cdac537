"""Order benchmark: `basso run` with `[broker] kind = "openalgo"` in its own process, against the fake OpenAlgo
(tests/brokers/fake_openalgo.py) served from this one over loopback.

Phases (durable embedded PostgreSQL, fsync on):
1. fixed rate: Gold Mini entries and exits, one order each, at `--rate` signals/s for `--duration` s; for each,
   the time from its webhook acknowledgement (the reply read here) to its placement arriving at the fake broker
   (stamped here too: one clock). Our own time: the fake answers at once, a real OpenAlgo adds ~25 ms.
2. flat out: `--burst` signals stored, then the time until every one is decided and its order filled at the fake
   (its rate limit off, ours raised out of the way): signals per second end to end, with fills.

Run from the repository root: `python -m bench.orders`. Prints the figures, then one JSON line:
ack_to_order_p50_ms, ack_to_order_p99_ms, signals_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from basso.actors.order_desk import broker_tag
from basso.config import load_config
from basso.embedded import EmbeddedPostgres, free_port
from basso.rules.contracts import contract_now
from basso.timeutil import IST
from tests.brokers.fake_openalgo import FakeOpenAlgo

SECRET = "bench-secret"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def signal(n: int, run: str) -> tuple[str, bytes]:
    """The n-th signal: Gold Mini entries and exits in turn (each one order); its key and body."""
    key = f"bench-{run}-{n}"
    stamp = datetime.now(IST).replace(tzinfo=None, microsecond=0).isoformat()
    body: dict[str, Any] = {
        "instrument": "GOLD_MINI",
        "price": 78500,
        "timestamp": stamp,
        "secret": SECRET,
        "signal_id": key,
    }
    if n % 2 == 0:
        body |= {
            "type": "BASE_ENTRY",
            "position": "Long_1",
            "stop": 77800,
            "lots": 1,
            "atr": 450,
            "er": 0.85,
            "supertrend": 77800,
        }
    else:
        body |= {"type": "EXIT", "position": "ALL", "reason": "bench"}
    return key, orjson.dumps(body)


def client_id(key: str, n: int) -> str:
    return f"{key}:0:{'BUY' if n % 2 == 0 else 'SELL'}:GOLD_MINI:L1"


async def fixed_rate(
    session: aiohttp.ClientSession, url: str, fake: FakeOpenAlgo, rate: float, duration: float
) -> list[float]:
    acked: dict[str, float] = {}
    start = time.perf_counter()
    count = int(rate * duration)

    async def one(n: int) -> None:
        key, body = signal(n, "rate")
        async with session.post(url, data=body) as response:
            await response.read()
        acked[broker_tag(client_id(key, n))] = time.perf_counter()

    tasks = []
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + 30
    while len(fake.sent("placeorder")) < count and time.perf_counter() < deadline:  # noqa: ASYNC110 (a bench's poll)
        await asyncio.sleep(0.1)
    placed = {r.body["strategy"]: r.at for r in fake.requests if r.endpoint == "placeorder"}
    return [(placed[tag] - at) * 1000 for tag, at in acked.items() if tag in placed]


async def flat_out(session: aiohttp.ClientSession, url: str, database_url: str, burst: int) -> float:
    bodies = [signal(n, "burst")[1] for n in range(burst)]
    conn = await asyncpg.connect(database_url)
    try:
        start = time.perf_counter()

        async def post(body: bytes) -> None:
            async with session.post(url, data=body) as response:
                await response.read()

        for chunk in range(0, burst, 50):
            await asyncio.gather(*(post(b) for b in bodies[chunk : chunk + 50]))
        # A bench polls the database: there is nothing here to wait on instead.
        while await conn.fetchval(  # noqa: ASYNC110
            "SELECT (SELECT count(*) FROM signals WHERE outcome = 'pending')"
            " + (SELECT count(*) FROM orders WHERE status IN ('pending', 'sent', 'partial', 'unknown'))"
        ):
            await asyncio.sleep(0.05)
        return burst / (time.perf_counter() - start)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> dict[str, float]:
    fake = FakeOpenAlgo()
    await fake.start()
    config = load_config()
    fake.set_market(contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol, ltp="78500")
    with tempfile.TemporaryDirectory(prefix="basso-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "postgres")
        database_url = postgres.start()
        settings = Path(tmp) / "basso.toml"
        settings.write_text(
            f'[server]\nrate_limit_per_minute = 100000000\n\n[broker]\nkind = "openalgo"\n'
            f'url = "{fake.url}"\norders_per_second = 1000\nstep_interval_s = 0.05\n',
            "utf-8",
        )
        port = free_port()
        env = {
            **os.environ,
            "BASSO_DATABASE_URL": database_url,
            "BASSO_WEBHOOK_SECRET": SECRET,
            "BASSO_ADMIN_TOKEN": "bench",
            "BASSO_CONFIG": str(settings),
            "BASSO_OPENALGO_API_KEY": fake.api_key,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "basso.cli",
            "run",
            "--port",
            str(port),
            "--data-dir",
            str(Path(tmp) / "data"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            while b"serving on" not in (line := await process.stderr.readline()):
                if not line:
                    raise RuntimeError("basso run exited before serving")
            drain = asyncio.create_task(process.stderr.read())
            url = f"http://127.0.0.1:{port}/webhook"
            async with aiohttp.ClientSession() as session:
                latencies = await fixed_rate(session, url, fake, args.rate, args.duration)
                rate = await flat_out(session, url, database_url, args.burst)
        finally:
            process.terminate()
            await process.wait()
            drain.cancel()
            postgres.stop()
            await fake.close()
    print(
        f"ack → order at the broker, {args.rate:g} signals/s for {args.duration:g} s: "
        f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms ({len(latencies)} orders)"
    )
    print(f"end to end with fills: {rate:.0f} signals/s ({args.burst} signals)")
    return {
        "ack_to_order_p50_ms": round(percentile(latencies, 50), 2),
        "ack_to_order_p99_ms": round(percentile(latencies, 99), 2),
        "signals_per_s": round(rate, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=2000)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
