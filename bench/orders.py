"""Order benchmark: `basso run` with `[broker] kind = "openalgo"` in its own process, against the fake OpenAlgo
(tests/brokers/fake_openalgo.py) served from this one over loopback.

`--instruments` futures (20; Gold Mini's numbers, configuration only) are traded at a fixed price without
commission, so the book neither gains nor loses and no gate blocks an entry; the run fails unless every signal
was executed.

Phases (durable embedded PostgreSQL, fsync on; our order rate limit raised out of the way, the fake's off, a
status check 1 ms after each placement, as the fake fills at once):
1. fixed rate: entries and exits, one order each, at `--rate` signals/s for `--duration` s (rounded up to whole
   rounds: each instrument entered, then exited; an exit sent once its entry's fill is recorded); for each, the time
   from its webhook acknowledgement (the reply read here) to its placement arriving at the fake broker (stamped
   here too: one clock). Our own time: the fake answers at once, a real OpenAlgo adds ~25 ms.
2. flat out: `--burst` signals, each instrument's entries and exits sent in turn (the instruments in parallel),
   the next as soon as the order of the one before has arrived at the fake broker, none waiting for a fill: signals
   (and orders: one each) per second until every order is recorded filled. (Sent faster, an exit decided before
   its entry's order has left withdraws that order unsent: a pair that never reaches the broker measures nothing.)
In both, the time from a placement arriving at the fake to its fill committed in our database (seen by a reader
polling every 5 ms). For the burst, the cores each party kept busy: `basso run`, its PostgreSQL, and this process
(the fake, the webhook client and the fills watcher), with the fake's answering on its own, so the figures say
what is ours; and the load average, since the machine may be shared.

Run from the repository root: `python -m bench.orders`. Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal as signals
import sys
import tempfile
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from basso.actors.order_desk import broker_tag
from basso.config import Config, load_config
from basso.embedded import EmbeddedPostgres, free_port
from basso.rules.contracts import contract_now
from basso.timeutil import IST
from tests.brokers.fake_openalgo import FakeOpenAlgo

SECRET = "bench-secret"
READY_WITHIN_S = 120.0  # `basso run` migrates and recovers before it is ready; past this it is stuck
FILL_WITHIN_S = 30.0  # a fill not recorded by then is a failure of the run, not a slow one
POLL_S = 0.005


@dataclass(frozen=True, slots=True, kw_only=True)
class Traded:
    """One instrument as the bench trades it: a fixed price, a stop and ATR that size at least one lot."""

    name: str
    price: float = 78500
    stop: float = 77100  # 1,400 points below, one ATR: on ₹5 Cr, volatility-limited to 7 lots (below)
    atr: float = 1400


def bench_instruments(count: int) -> tuple[Traded, ...]:
    return tuple(Traded(name=f"BENCH_{n:02d}") for n in range(count))


def settings_text(fake_url: str, instruments: tuple[Traded, ...]) -> str:
    """The configuration `basso run` is given: OpenAlgo at the fake, our own order rate limit out of the way, a
    status check 1 ms after each placement (the fake fills at once), no commission (fills at the price: the book
    neither gains nor loses, so no drawdown gate blocks), ₹5 Cr, and `instruments` with Gold Mini's numbers
    (configuration only). By hand (docs/rules.md §3, §4): Lot-V = 5,00,00,000 × 0.2 % ÷ (1,400 × ₹10) = 7.1 ⇒ 7
    lots each (Lot-R = 5,00,00,000 × 0.5 % × 0.85 ÷ 14,000 = 15.2); 20 of them hold 20 × 7 × 1,400 × 10 ÷
    5,00,00,000 = 3.92 % volatility (cap 5 %), 3.92 % risk (cap 15 %) and 20 × 7 × ₹1,05,000 = 29.4 % of equity as
    margin (budget 60 %): every entry is taken."""
    raw: dict[str, Any] = tomllib.loads(resources.files("basso").joinpath("defaults.toml").read_text("utf-8"))
    gold = raw["instruments"]["GOLD_MINI"]
    lines = [
        "[server]\nrate_limit_per_minute = 100000000\ninitial_capital = 50000000\n",
        "[paper]\ncommission_pct = 0\n",
        f'[broker]\nkind = "openalgo"\nurl = "{fake_url}"\norders_per_second = 1000\nstep_interval_s = 0.001\n',
    ]
    for index, traded in enumerate(instruments):
        table = {**gold, "symbol_root": "GOLDM" + chr(ord("A") + index % 26) * (1 + index // 26)}
        lines.append(_toml_table(f"instruments.{traded.name}", table))
    return "\n".join(lines)


def _toml_table(name: str, table: dict[str, Any]) -> str:
    # Scalars and flat sub-tables are all an instrument has; JSON's strings, numbers and booleans are TOML's too.
    flat = [f"{key} = {orjson.dumps(value).decode()}" for key, value in table.items() if not isinstance(value, dict)]
    nested = [_toml_table(f"{name}.{key}", value) for key, value in table.items() if isinstance(value, dict)]
    return "\n".join([f"[{name}]", *flat, "", *nested])


def _cpu_s(pid: int, *, children: bool = False) -> float:
    """CPU seconds (user + system) process `pid` has used, and with `children` those of the children it reaped
    (Linux /proc; 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s(data_dir: Path) -> float:
    """CPU seconds used by the embedded PostgreSQL: its postmaster, every backend alive and every one gone."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = _cpu_s(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:
            total += _cpu_s(int(stat.parent.name))
    return total


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def signal(traded: Traded, key: str, *, entry: bool) -> bytes:
    """An entry of Long_1 or an exit of everything on `traded`, keyed `key`."""
    body: dict[str, Any] = {
        "instrument": traded.name,
        "price": traded.price,
        "timestamp": datetime.now(IST).replace(tzinfo=None, microsecond=0).isoformat(),
        "secret": SECRET,
        "signal_id": key,
    }
    if entry:
        body |= {
            "type": "BASE_ENTRY",
            "position": "Long_1",
            "stop": traded.stop,
            "lots": 1,
            "atr": traded.atr,
            "er": 0.85,
            "supertrend": traded.stop,
        }
    else:
        body |= {"type": "EXIT", "position": "ALL", "reason": "bench"}
    return orjson.dumps(body)


def client_id(key: str, traded: Traded, *, entry: bool) -> str:
    """The client id Basso gives the one order of signal `key` (basso.rules.orders)."""
    return f"{key}:0:{'BUY' if entry else 'SELL'}:{traded.name}:L1"


class Fills:
    """Orders as they are recorded filled in our database, watched by one reader polling every 5 ms."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.seen: dict[str, float] = {}  # client id → time.perf_counter() when first seen filled
        self._waiting: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        self._task = asyncio.create_task(self._watch(conn))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_filled(self, client: str) -> None:
        """Until `client` is recorded filled; TimeoutError past FILL_WITHIN_S."""
        if client not in self.seen:
            try:
                async with asyncio.timeout(FILL_WITHIN_S):
                    await self._waiting.setdefault(client, asyncio.Event()).wait()
            except TimeoutError:
                raise RuntimeError(f"order {client} not recorded filled within {FILL_WITHIN_S:g} s") from None

    async def _watch(self, conn: asyncpg.Connection) -> None:
        last = 0  # every order up to this id was done when last looked at, and seen if it filled
        try:
            while True:
                # Orders are numbered as decided and may fill out of turn: one read (one snapshot, by the primary
                # key) of every order past those all done, so none that fills meanwhile is passed over. It runs 200
                # times a second next to what is measured: it must not scan the whole table.
                rows = await conn.fetch("SELECT id, client_id, status FROM orders WHERE id > $1 ORDER BY id", last)
                now = time.perf_counter()
                working = None
                for row in rows:
                    if row["status"] == "filled":
                        self.seen.setdefault(row["client_id"], now)
                        if (event := self._waiting.pop(row["client_id"], None)) is not None:
                            event.set()
                    elif working is None and row["status"] in ("pending", "sent", "partial", "unknown"):
                        working = row["id"]
                if working is not None:
                    last = working - 1
                elif rows:
                    last = rows[-1]["id"]
                await asyncio.sleep(POLL_S)  # a bench's poll: nothing in the database to wait on instead
        finally:
            await conn.close()


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> float:
    """Send one webhook; the time its acknowledgement was read. A refusal fails the run."""
    async with session.post(url, data=body) as response:
        text = await response.text()
        if response.status != 200:
            raise RuntimeError(f"webhook answered {response.status}: {text}")
    return time.perf_counter()


async def fixed_rate(
    session: aiohttp.ClientSession,
    url: str,
    fills: Fills,
    instruments: tuple[Traded, ...],
    rate: float,
    duration: float,
) -> dict[str, float]:
    """Entries and exits at `rate` per second, round robin over the instruments (each exit after its entry's
    fill); the acknowledgement time of each order's signal, by the order's broker tag."""
    acked: dict[str, float] = {}
    start = time.perf_counter()
    # Whole rounds (each instrument entered, then exited), so every instrument is flat when the phase ends.
    count = math.ceil(rate * duration / (2 * len(instruments))) * 2 * len(instruments)
    width = len(instruments)
    previous: list[asyncio.Task[None]] = []

    async def one(n: int, entered: asyncio.Task[None] | None) -> None:
        # Slots 0..width-1 of each round enter the instruments in turn, the next width slots exit them.
        traded, entry = instruments[n % width], n % (2 * width) < width
        key = f"rate-{n}"
        if entered is not None:
            await entered
        client = client_id(key, traded, entry=entry)
        acked[broker_tag(client)] = await post(session, url, signal(traded, key, entry=entry))
        await fills.wait_filled(client)

    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        previous.append(asyncio.create_task(one(n, previous[n - width] if n >= width else None)))
    await asyncio.gather(*previous)
    return acked


async def flat_out(
    session: aiohttp.ClientSession,
    url: str,
    fake: FakeOpenAlgo,
    fills: Fills,
    instruments: tuple[Traded, ...],
    pairs: int,
) -> float:
    """`pairs` entries and exits of each instrument, the instruments in parallel, each instrument's next signal sent
    as soon as the order of the one before has reached the broker, none waiting for a fill: the seconds until every
    order is recorded filled. (An exit decided before its entry's order has left would withdraw that order unsent,
    docs/rules.md §8: no fills to measure. An exit decided while its entry is still worked is sent once the entry
    is done.)"""
    clients: list[str] = []

    async def stream(traded: Traded) -> None:
        for n in range(2 * pairs):
            key, entry = f"burst-{traded.name}-{n}", n % 2 == 0
            client = client_id(key, traded, entry=entry)
            clients.append(client)
            await post(session, url, signal(traded, key, entry=entry))
            try:
                async with asyncio.timeout(FILL_WITHIN_S):
                    await fake.placed(broker_tag(client)).wait()
            except TimeoutError:
                raise RuntimeError(f"order {client} did not reach the broker within {FILL_WITHIN_S:g} s") from None

    start = time.perf_counter()
    await asyncio.gather(*(stream(t) for t in instruments))
    for client in clients:
        await fills.wait_filled(client)
    return time.perf_counter() - start


async def check_all_executed(database_url: str) -> None:
    """Every signal must have been executed (an order each), or the figures measure something else."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT outcome, count(*) AS n FROM signals GROUP BY outcome")
    finally:
        await conn.close()
    outcomes = {row["outcome"]: row["n"] for row in rows}
    if set(outcomes) != {"executed"}:
        raise RuntimeError(f"not every signal was executed: {outcomes}")


async def wait_ready(
    session: aiohttp.ClientSession, port: int, process: asyncio.subprocess.Process, log: deque[str]
) -> None:
    """Until `basso run` answers /health/ready with 200; its last words if it exits or is not ready in time."""
    deadline = time.perf_counter() + READY_WITHIN_S
    while time.perf_counter() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"basso run exited {process.returncode} before ready:\n" + "\n".join(log))
        try:
            async with session.get(f"http://127.0.0.1:{port}/health/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass  # not listening yet
        await asyncio.sleep(0.1)  # a bench's poll: readiness is only told over HTTP
    raise RuntimeError(f"basso run not ready after {READY_WITHIN_S:g} s:\n" + "\n".join(log))


class ServerLog:
    """`basso run`'s log, read as it comes (a full pipe would stall it): its last lines, and how many decisions
    the Persister refused as made against a stale book (each one decided again: work done twice)."""

    def __init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=200)
        self.redone = 0

    async def read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self.tail.append(text)
            self.redone += "deciding it again" in text


def market(fake: FakeOpenAlgo, config: Config, instruments: tuple[Traded, ...]) -> None:
    """Quote each instrument's current contract at its fixed price, and answer /symbol for it."""
    now = datetime.now(UTC)
    for traded in instruments:
        symbol = contract_now(config, traded.name, now).future_symbol
        instrument = config.instrument(traded.name)
        fake.set_market(symbol, ltp=f"{traded.price:g}", lot_size=instrument.lot_size, tick=f"{instrument.tick:g}")


async def main(args: argparse.Namespace) -> dict[str, float]:
    # Stopped from outside (a timeout's SIGTERM), it still stops `basso run` and its PostgreSQL on the way out.
    this = asyncio.current_task()
    assert this is not None
    asyncio.get_running_loop().add_signal_handler(signals.SIGTERM, this.cancel)
    instruments = bench_instruments(args.instruments)
    fake = FakeOpenAlgo()
    await fake.start()
    log = ServerLog()
    with tempfile.TemporaryDirectory(prefix="basso-bench-") as tmp:
        settings = Path(tmp) / "basso.toml"
        settings.write_text(settings_text(fake.url, instruments), "utf-8")
        market(fake, load_config(settings), instruments)
        data_dir = Path(tmp) / "postgres"
        postgres = EmbeddedPostgres(data_dir)
        database_url = postgres.start()
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
            *("-m", "basso.cli", "run", "--port", str(port), "--data-dir", str(Path(tmp) / "data")),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        tail = asyncio.create_task(log.read(process.stderr))
        fills = Fills(database_url)
        try:
            url = f"http://127.0.0.1:{port}/webhook"
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, port, process, log.tail)
                await fills.start()
                acked = await fixed_rate(session, url, fills, instruments, args.rate, args.duration)
                placed_before = len(fake.sent("placeorder"))
                pairs = max(1, args.burst // (2 * len(instruments)))
                # Who used the two cores in the burst: `basso run`, its PostgreSQL, and this process (the fake, the
                # webhook client, the fills watcher), with the fake's own answering on its own.
                cpu_before = (_cpu_s(process.pid), postgres_cpu_s(data_dir), time.process_time(), fake.busy_s)
                redone_before = log.redone
                seconds = await flat_out(session, url, fake, fills, instruments, pairs)
                redone = log.redone - redone_before
                cpu_after = (_cpu_s(process.pid), postgres_cpu_s(data_dir), time.process_time(), fake.busy_s)
                basso_cpu, postgres_cpu, bench_cpu, fake_busy = (
                    (after - before) / seconds for before, after in zip(cpu_before, cpu_after, strict=True)
                )
                await check_all_executed(database_url)
        except BaseException:
            print("\n".join(log.tail), file=sys.stderr)
            raise
        finally:
            await fills.close()
            process.terminate()
            await process.wait()
            await tail
            postgres.stop()
            await fake.close()
    placements = [(r.body["strategy"], r.at) for r in fake.requests if r.endpoint == "placeorder"]
    placed = dict(placements)
    ack_to_order = [(placed[tag] - at) * 1000 for tag, at in acked.items()]
    filled = {broker_tag(client): at for client, at in fills.seen.items()}
    # Apart: at a steady 5 signals/s it is how long an order takes; in the burst, how long the queue is.
    steady = [(filled[tag] - at) * 1000 for tag, at in placements[:placed_before]]
    burst = [(filled[tag] - at) * 1000 for tag, at in placements[placed_before:]]
    orders = len(placements) - placed_before
    figures = {
        "ack_to_order_p50_ms": percentile(ack_to_order, 50),
        "ack_to_order_p99_ms": percentile(ack_to_order, 99),
        "ack_to_order_max_ms": max(ack_to_order),
        "placement_to_fill_p50_ms": percentile(steady, 50),
        "placement_to_fill_p99_ms": percentile(steady, 99),
        "placement_to_fill_max_ms": max(steady),
        "burst_placement_to_fill_p50_ms": percentile(burst, 50),
        "burst_placement_to_fill_p99_ms": percentile(burst, 99),
        "signals_per_s": 2 * pairs * len(instruments) / seconds,
        "orders_per_s": orders / seconds,
        # Decisions in the burst refused at commit as made against a stale book, and decided again.
        "burst_decisions_redone_pct": 100 * redone / (2 * pairs * len(instruments)),
        # Cores busy in the burst (1.0 = one core all the time).
        "burst_basso_cores": basso_cpu,
        "burst_postgres_cores": postgres_cpu,
        "burst_bench_cores": bench_cpu,
        "burst_fake_cores": fake_busy,
        "load_average_1m": os.getloadavg()[0],  # the machine's, at the end: other work competes for the cores
    }
    print(
        f"ack → order at the broker, {args.rate:g} signals/s for {args.duration:g} s ({len(ack_to_order)} orders): "
        f"p50 {figures['ack_to_order_p50_ms']:.1f} ms, p99 {figures['ack_to_order_p99_ms']:.1f} ms, "
        f"max {figures['ack_to_order_max_ms']:.1f} ms"
    )
    print(
        f"placement at the broker → fill recorded, same orders: p50 {figures['placement_to_fill_p50_ms']:.1f} ms, "
        f"p99 {figures['placement_to_fill_p99_ms']:.1f} ms, max {figures['placement_to_fill_max_ms']:.1f} ms"
    )
    print(
        f"flat out with fills: {figures['signals_per_s']:.0f} signals/s, {figures['orders_per_s']:.0f} orders/s "
        f"({2 * pairs * len(instruments)} signals, {orders} orders, {len(instruments)} instruments in parallel); "
        f"placement → fill p50 {figures['burst_placement_to_fill_p50_ms']:.0f} ms, "
        f"p99 {figures['burst_placement_to_fill_p99_ms']:.0f} ms; "
        f"{figures['burst_decisions_redone_pct']:.0f} % of decisions redone (a stale book)"
    )
    print(
        f"cores busy in the burst: basso run {basso_cpu:.2f}, its PostgreSQL {postgres_cpu:.2f}, this process "
        f"{bench_cpu:.2f} (of which the fake answering {fake_busy:.2f}); load average {figures['load_average_1m']:.2f}"
    )
    return {name: round(value, 2) for name, value in figures.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--instruments", type=int, default=20, help="traded in parallel (Gold Mini's numbers)")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
