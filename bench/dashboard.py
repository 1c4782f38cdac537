"""Dashboard benchmark: the page's render time on a big book, and how soon a commit reaches an open page.

On a durable embedded PostgreSQL (fsync on) holding 100,000 stored signals, 10,000 ledger rows, 100,000 equity
marks and 200 open layers (34 instruments of configuration only, Gold Mini's numbers under other names, six
layers each but the last), the real app on a real socket:

1. render: `GET /` (every panel, from the read API's own computations), the first request and then `--renders`
   more; the time until the whole page has arrived at the client;
2. live update: a page's event stream open (`/dashboard/events`), a bar posted to the webhook, the solo
   leader's pipeline commits it, and the time from that commit (the pipeline's `on_commit`) to the `changed`
   event arriving at the client, and to the re-rendered panels (`GET /dashboard/panels`) having arrived.

Prints one JSON line: first_render_ms, render_p50_ms, render_p95_ms, sse_after_commit_p50_ms,
sse_after_commit_max_ms, panels_after_commit_p50_ms, panels_after_commit_max_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from basso.config import Config, _parse
from basso.embedded import EmbeddedPostgres, free_port
from basso.http.app import build_app
from basso.http.ratelimit import RateLimiter
from basso.http.state import Services
from basso.messages import Settled
from basso.pipeline import Hooks, Pipeline
from basso.store.capital import deposit_if_empty
from basso.store.fence import take_fence
from basso.store.migrations import migrate

SECRET = "bench-secret"
INSTRUMENTS = [f"BENCH_{n:02d}" for n in range(34)]  # 34 × 6 layers = 204: the first 200 are opened
LAYERS = 200
SIGNALS = 100_000
LEDGER_ROWS = 10_000  # two rows (commission, P&L) per fill, a fill per 20 stored signals; `--ledger-rows`
EQUITY_MARKS = SIGNALS  # an equity mark per bar (each moves the open layers' unrealised P&L); `--equity-marks`


def bench_config() -> Config:
    """The shipped configuration plus 34 instruments with Gold Mini's numbers (configuration only)."""
    raw: dict[str, Any] = tomllib.loads(resources.files("basso").joinpath("defaults.toml").read_text("utf-8"))
    gold = raw["instruments"]["GOLD_MINI"]
    for index, name in enumerate(INSTRUMENTS):
        raw["instruments"][name] = {
            **gold,
            "symbol_root": "GOLDM" + chr(ord("A") + index % 26) * (1 + index // 26),
            "max_pyramids": 5,
        }
    return _parse(raw)


async def fill(
    pool: asyncpg.Pool, now: datetime, ledger_rows: int = LEDGER_ROWS, equity_marks: int = EQUITY_MARKS
) -> int:
    """The facts: the fence, ₹1 Cr, 100,000 executed signals (a year of bars), `ledger_rows` netting to 0,
    `equity_marks` five minutes apart for the chart,
    200 open layers with stops above entry (no open risk, so bars only trail) and a mark per instrument."""
    async with pool.acquire() as conn:
        epoch = await take_fence(conn, "bench", "benchmark")
        await deposit_if_empty(conn, epoch=epoch, amount=Decimal(10_000_000), at=now - timedelta(days=366))
        start = now - timedelta(days=365)
        signals = []
        for n in range(SIGNALS):
            instrument = INSTRUMENTS[n % len(INSTRUMENTS)]
            at = start + timedelta(seconds=n * 300)
            payload = orjson.dumps(
                {"type": "MARKET_DATA", "instrument": instrument, "price": 78000 + n % 500, "atr": 10}
            ).decode()
            signals.append(
                (
                    f"bench-{n}",
                    "MARKET_DATA",
                    instrument,
                    at,
                    at,
                    payload,
                    "executed",
                    "bar applied: 0 stop(s) trailed",
                    at,
                    epoch,
                )
            )
        await conn.copy_records_to_table(
            "signals",
            records=signals,
            columns=[
                "key",
                "kind",
                "instrument",
                "signal_time",
                "received_at",
                "payload",
                "outcome",
                "reason",
                "processed_at",
                "epoch",
            ],
        )
        ledger = [
            (start + timedelta(seconds=n * 600), "realised_pnl", Decimal(100 if n % 2 else -100), "bench")
            for n in range(ledger_rows)
        ]
        await conn.copy_records_to_table("ledger", records=ledger, columns=["at", "kind", "amount", "note"])
        marks_over_time = [
            (
                start + timedelta(seconds=n * 300),
                Decimal(10_000_000 - 100 * ((n // 2) % 2)),
                Decimal(n % 500 * 10),
                Decimal(10_000_000),
                100 * ((n // 2) % 2) / 10_000_000,
            )
            for n in range(equity_marks)
        ]
        await conn.copy_records_to_table(
            "equity_marks", records=marks_over_time, columns=["at", "closed", "unrealised", "high_water", "drawdown"]
        )
        entry_signal = await conn.fetchval("SELECT min(id) FROM signals")
        positions = []
        for n in range(LAYERS):
            instrument, layer = INSTRUMENTS[n // 6], n % 6 + 1
            positions.append(
                (
                    instrument,
                    layer,
                    "open",
                    1,
                    Decimal(78000),
                    Decimal(78100),
                    Decimal(78100),
                    Decimal(78400),
                    Decimal(10),
                    Decimal(10),
                    Decimal(105000),
                    now - timedelta(days=3),
                    entry_signal,
                )
            )
        await conn.copy_records_to_table(
            "positions",
            records=positions,
            columns=[
                "instrument",
                "layer",
                "status",
                "lots",
                "entry_price",
                "initial_stop",
                "current_stop",
                "highest_close",
                "atr",
                "point_value",
                "margin_per_lot",
                "opened_at",
                "entry_signal",
            ],
        )
        marks = [(name, Decimal(78400), Decimal(10), now - timedelta(minutes=5)) for name in INSTRUMENTS]
        await conn.copy_records_to_table(
            "instrument_marks", records=marks, columns=["instrument", "price", "atr", "at"]
        )
        await conn.execute("ANALYZE")
    return epoch


async def timed_get(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        await response.read()
    return (time.perf_counter() - started) * 1000


async def live_updates(
    session: aiohttp.ClientSession, base: str, commits: list[float], rounds: int
) -> tuple[list[float], list[float]]:
    """Post a bar, wait for the stream's `changed`, fetch the panels; times after each commit, in ms."""
    to_event: list[float] = []
    to_panels: list[float] = []
    async with session.get(f"{base}/dashboard/events") as stream:
        await stream.content.readuntil(b"\r\n\r\n")  # the first event: the page's state (no `since`)
        for n in range(rounds):
            seen = len(commits)
            body = {
                "type": "MARKET_DATA",
                "instrument": INSTRUMENTS[n % len(INSTRUMENTS)],
                "price": 78400 + n,
                "atr": 10,
                "timestamp": datetime.now(UTC).isoformat(),
                "signal_id": f"live-{n}",
                "secret": SECRET,
            }
            async with session.post(f"{base}/webhook", data=orjson.dumps(body)) as reply:
                assert reply.status == 200, await reply.text()
            while True:
                await stream.content.readuntil(b"\r\n\r\n")
                if len(commits) > seen:
                    break  # the event for this commit (an earlier one may have been for the stored signal)
            arrived = time.perf_counter()
            await timed_get(session, f"{base}/dashboard/panels")
            to_event.append((arrived - commits[seen]) * 1000)
            to_panels.append((time.perf_counter() - commits[seen]) * 1000)
    return to_event, to_panels


async def main(args: argparse.Namespace) -> dict[str, float]:
    config = bench_config()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        database_url = postgres.start()
        pool = await asyncpg.create_pool(database_url, min_size=4, max_size=12)
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            epoch = await fill(pool, now, args.ledger_rows, args.equity_marks)
            commits: list[float] = []
            services = Services(
                config=config,
                pool=pool,
                webhook_secret=SECRET,
                admin_token="bench",
                wall_clock=lambda: datetime.now(UTC),
                instance="bench",
                limiter=RateLimiter(per_minute=100_000, clock=time.monotonic),
                migrated=True,
                recovered=lambda: True,
                is_leader=lambda: True,
                epoch=lambda: epoch,
            )

            def on_commit(_settled: Settled) -> None:
                commits.append(time.perf_counter())
                services.feed.notify()

            pipeline = Pipeline(
                pool=pool,
                config=config,
                epoch=epoch,
                hooks=Hooks(on_commit=on_commit),
                wall_clock=lambda: datetime.now(UTC),
            )
            services.wake_processor = pipeline.wake
            runner = web.AppRunner(build_app(services), access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await pipeline.start()
            pipeline.open()
            base = f"http://127.0.0.1:{port}"
            try:
                async with aiohttp.ClientSession() as session:
                    first = await timed_get(session, f"{base}/")
                    renders = [await timed_get(session, f"{base}/") for _ in range(args.renders)]
                    to_event, to_panels = await live_updates(session, base, commits, args.updates)
            finally:
                await pipeline.stop()
                await runner.cleanup()
        finally:
            await pool.close()
            postgres.stop()
    renders.sort()
    return {
        "first_render_ms": round(first, 1),
        "render_p50_ms": round(statistics.median(renders), 1),
        "render_p95_ms": round(renders[int(0.95 * (len(renders) - 1))], 1),
        "sse_after_commit_p50_ms": round(statistics.median(to_event), 1),
        "sse_after_commit_max_ms": round(max(to_event), 1),
        "panels_after_commit_p50_ms": round(statistics.median(to_panels), 1),
        "panels_after_commit_max_ms": round(max(to_panels), 1),
        "open_layers": LAYERS,
        "stored_signals": SIGNALS,
        "ledger_rows": args.ledger_rows,
        "equity_marks": args.equity_marks,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=20, help="renders of / after the first (default 20)")
    parser.add_argument("--ledger-rows", type=int, default=LEDGER_ROWS, help=f"ledger rows (default {LEDGER_ROWS})")
    parser.add_argument("--equity-marks", type=int, default=EQUITY_MARKS, help=f"equity marks (default {EQUITY_MARKS})")
    parser.add_argument("--updates", type=int, default=20, help="bars posted for the live-update figure (default 20)")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
