"""Chaos soak: three `basso run` processes on one PostgreSQL and one Redis, a continuous signal stream, and faults
at random; then a checker over the database.

The instances reach PostgreSQL through a TCP proxy the soak can cut (tests/tcpproxy.py), and run on the process
tests' harness (tests/processes.py). Four senders deliver a realistic mix of entries, pyramids, exits and bar
closes (tests/web/test_pipeline_chaos.py's stream), paced at 20 signals a second in all (fewer while answers are
slow), each to the next instance in turn; a 503, a refused connection or no answer within 3 s is resent to the
next instance, as TradingView resends (a resend of a signal already stored is answered "duplicate": its
idempotency key).

Faults, one at a time, 1 to 4 s apart: `kill -9` of the leader (restarted at once on its data directory), the
leader SIGSTOPped past its lease (3 s) then SIGCONTed, Redis stopped and restarted on its port, and the network
to PostgreSQL cut (connections dropped, new ones refused) and restored, each outage 1 to 4 s. The first four
faults are one of each kind in a random order (all made, even past `--minutes` on a slow machine); after
them, kinds are drawn 10 : 2 : 1 : 1.

When the time is up, every instance is brought back, the backlog is waited out, and tests/chaos_check.py checks
the database: every acknowledged signal stored with exactly one outcome, no idempotency key or order client id
twice, no write under an epoch older than the newest taken before it committed (PostgreSQL's commit
timestamps, turned on here), ledger rows committed with their signal's outcome, and the book equal to a replay.

Prints the figures as it goes and at the end, then one JSON line; exits 1 if any check failed.

    python bench/chaos.py [--minutes 10] [--seed N]
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
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' harness, checker and stream
from basso.config import load_config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.chaos_check import check, start_with_commit_times
from tests.processes import SECRET, Instance, running
from tests.tcpproxy import TcpProxy, proxy_to, through
from tests.web.test_pipeline_chaos import stream

INSTANCES = 3
SENDERS = 4
RATE = 20.0  # signals a second, all senders together
ANSWER_S = 3.0  # TradingView gives up on a request after about this long
GIVE_UP_S = 120.0  # a signal nobody acknowledges for this long is reported, not resent forever
LEASE_TTL_S = 3.0  # [leadership] lease_ttl_s in basso/defaults.toml
KINDS = ("kill", "stop", "redis", "postgres")
WEIGHTS = (10, 2, 1, 1)
# The stream's timestamps are fixed in the past; every sender is one address.
CONFIG = "[signals]\nmax_age_s = 0\n\n[server]\nrate_limit_per_minute = 100000000\n"


@dataclass
class Slot:
    """One of the three instances: its data directory and the process running on it now (None while down)."""

    name: str
    data_dir: Path
    instance: Instance | None = None
    stack: AsyncExitStack | None = None
    restarting: asyncio.Task[None] | None = None


@dataclass
class Figures:
    """What the senders and the fault injector counted."""

    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    refused: int = 0  # 503: not stored, resent
    unanswered: int = 0  # connection refused or no answer in time, resent
    unexpected: Counter[int] = field(default_factory=Counter)  # any other status: a bug
    unacknowledged: int = 0  # given up after GIVE_UP_S
    faults: Counter[str] = field(default_factory=Counter)
    leaderless_s: list[float] = field(default_factory=list)  # from a leader's kill to another one leading
    restart_failures: int = 0
    exited: int = 0  # instances that exited without being killed: a bug, restarted so the soak goes on


class Cluster:
    """The three slots, started, killed and restarted on the same data directories."""

    def __init__(self, database_url: str, redis_url: str, tmp: Path, env: dict[str, str]) -> None:
        self.database_url, self.redis_url, self.env = database_url, redis_url, env
        self.slots = [Slot(name, tmp / name) for name in "abc"[:INSTANCES]]
        self._turn = itertools.count()

    async def start(self, slot: Slot) -> None:
        """Start `slot`'s process, again until it serves (a start during an outage may exit: it is retried)."""
        for attempt in itertools.count():
            stack = AsyncExitStack()
            try:
                slot.instance = await stack.enter_async_context(
                    running(self.database_url, self.redis_url, slot.data_dir, self.env)
                )
                slot.stack = stack
                return
            except (RuntimeError, TimeoutError) as exc:
                await stack.aclose()
                last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
                print(f"{slot.name} did not start (attempt {attempt + 1}): {last[0]}", file=sys.stderr)
                if attempt >= 20:
                    raise
                await asyncio.sleep(1.0)  # the outage that stopped it lasts seconds

    async def stop(self, slot: Slot) -> None:
        if slot.stack is not None:
            await slot.stack.aclose()  # kills the process if it still runs
        slot.instance, slot.stack = None, None

    def up(self) -> list[Instance]:
        return [s.instance for s in self.slots if s.instance is not None and s.instance.process.returncode is None]

    def next_instance(self) -> Instance | None:
        """The next running instance in turn (round robin over the three, skipping those down)."""
        for _ in range(len(self.slots)):
            slot = self.slots[next(self._turn) % len(self.slots)]
            if slot.instance is not None and slot.instance.process.returncode is None:
                return slot.instance
        return None

    async def leader(self, session: aiohttp.ClientSession, limit_s: float) -> Slot | None:
        """The slot whose instance says it leads, asking each in turn for up to `limit_s`."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            for slot in self.slots:
                if slot.instance is None or slot.instance.process.returncode is not None:
                    continue
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{slot.instance.url}/leader", timeout=aiohttp.ClientTimeout(1)) as r:
                        if r.status == 200:
                            return slot
            await asyncio.sleep(0.1)  # polling other processes' state
        return None


async def deliver(session: aiohttp.ClientSession, cluster: Cluster, body: bytes, key: str, figures: Figures) -> None:
    """Send `body` until an instance acknowledges it, each resend to the next instance."""
    figures.sent += 1
    deadline = time.monotonic() + GIVE_UP_S
    for attempt in itertools.count():
        instance = cluster.next_instance()
        if instance is not None:
            try:
                async with session.post(f"{instance.url}/webhook", data=body) as response:
                    if response.status == 200:
                        figures.acknowledged.add(key)
                        return
                    if response.status == 503:
                        figures.refused += 1
                    else:
                        figures.unexpected[response.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                figures.unanswered += 1
        if time.monotonic() > deadline:
            figures.unacknowledged += 1
            return
        if attempt % INSTANCES == INSTANCES - 1:
            await asyncio.sleep(0.2)  # a round of refusals: TradingView resends a little later


async def send(
    session: aiohttp.ClientSession,
    cluster: Cluster,
    bodies: Iterator[tuple[bytes, str]],
    done: asyncio.Event,
    figures: Figures,
) -> None:
    """One sender: the next signal, delivered, then a pause for the stream's rate, until the faults are `done`."""
    for body, key in bodies:
        if done.is_set():
            return
        await deliver(session, cluster, body, key, figures)
        await asyncio.sleep(SENDERS / RATE)  # pacing the load, not synchronising


async def inject(
    kind: str,
    rng: random.Random,
    session: aiohttp.ClientSession,
    cluster: Cluster,
    redis: EmbeddedRedis,
    proxy: TcpProxy,
    figures: Figures,
) -> None:
    """One fault of `kind`, undone before it returns (a killed leader's restart runs on in the background)."""
    if kind in ("kill", "stop"):
        slot = await cluster.leader(session, 30.0)
        if slot is None or slot.instance is None:
            print(f"{kind}: no leader within 30 s, skipped", file=sys.stderr)
            return
        process = slot.instance.process
        if kind == "kill":
            killed_at = time.monotonic()
            process.send_signal(signal.SIGKILL)
            await process.wait()
            slot.restarting = asyncio.create_task(restart(cluster, slot, figures))
            if await cluster.leader(session, 30.0) is not None:
                figures.leaderless_s.append(time.monotonic() - killed_at)
        else:
            process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(LEASE_TTL_S + rng.uniform(0.5, 2.0))  # past its lease
            process.send_signal(signal.SIGCONT)
    elif kind == "redis":
        await asyncio.to_thread(redis.stop)
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        await asyncio.to_thread(redis.start)  # the same port: the instances reconnect by themselves
    else:
        proxy.cut()
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        proxy.restore()
    figures.faults[kind] += 1
    print(f"{kind} ({sum(figures.faults.values())} faults, {len(figures.acknowledged)} acknowledged)", file=sys.stderr)


async def restart(cluster: Cluster, slot: Slot, figures: Figures) -> None:
    await cluster.stop(slot)
    try:
        await cluster.start(slot)
    except (RuntimeError, TimeoutError) as exc:
        figures.restart_failures += 1
        print(f"{slot.name} did not start again: {exc}", file=sys.stderr)


async def faults(
    rng: random.Random,
    until: float,
    session: aiohttp.ClientSession,
    cluster: Cluster,
    redis: EmbeddedRedis,
    proxy: TcpProxy,
    figures: Figures,
) -> None:
    """Faults until `until`: first one of each kind, in a random order (all four, however long they take on a
    slow machine), then drawn by WEIGHTS."""
    first = rng.sample(KINDS, len(KINDS))
    while True:
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        if time.monotonic() >= until and not first:
            return
        await revive(cluster, figures)
        kind = first.pop() if first else rng.choices(KINDS, WEIGHTS)[0]
        await inject(kind, rng, session, cluster, redis, proxy, figures)


async def revive(cluster: Cluster, figures: Figures) -> None:
    """Start again, and count, any instance that exited by itself (the soak only ever kills with SIGKILL)."""
    for slot in cluster.slots:
        if slot.restarting is not None and not slot.restarting.done():
            continue
        if slot.instance is not None and slot.instance.process.returncode not in (None, -signal.SIGKILL):
            figures.exited += 1
            print(f"{slot.name} exited by itself:\n" + "".join(slot.instance.log[-20:]), file=sys.stderr)
            slot.restarting = asyncio.create_task(restart(cluster, slot, figures))


async def settle(cluster: Cluster, figures: Figures, pool: asyncpg.Pool, limit_s: float) -> None:
    """Every instance up, and every stored signal processed (bounded by `limit_s`)."""
    await revive(cluster, figures)
    for slot in cluster.slots:
        if slot.restarting is not None:
            await slot.restarting
        if slot.instance is None:
            await cluster.start(slot)
    deadline = time.monotonic() + limit_s
    while await pool.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"signals still pending {limit_s} s after the chaos stopped")
        await asyncio.sleep(0.2)  # polling other processes' commits


async def soak(args: argparse.Namespace, tmp: Path, database_url: str, redis: EmbeddedRedis) -> dict[str, Any]:
    rng = random.Random(args.seed)
    (tmp / "basso.toml").write_text(CONFIG)
    config = load_config(tmp / "basso.toml")
    env = {"BASSO_CONFIG": str(tmp / "basso.toml")}
    count = int(args.minutes * 60 * RATE) + 1000  # more than can be sent
    bodies = iter(
        (orjson.dumps({**s, "secret": SECRET}), str(s["signal_id"])) for s in stream(rng, count, f"soak{args.seed}")
    )
    figures = Figures()
    port = int(urlsplit(database_url).port or 5432)
    async with proxy_to(port) as proxy:
        cluster = Cluster(through(proxy.port, database_url), redis.url, tmp, env)
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        timeout = aiohttp.ClientTimeout(total=ANSWER_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                for slot in cluster.slots:
                    await cluster.start(slot)
                started = time.monotonic()
                until = started + args.minutes * 60
                done = asyncio.Event()

                async def chaos() -> None:
                    await faults(rng, until, session, cluster, redis, proxy, figures)
                    done.set()

                await asyncio.gather(chaos(), *(send(session, cluster, bodies, done, figures) for _ in range(SENDERS)))
                chaos_s = time.monotonic() - started
                await settle(cluster, figures, pool, 300.0)
                exits = [await s.instance.terminate() for s in cluster.slots if s.instance is not None]
            checks = await check(pool, figures.acknowledged, config)
            history = await pool.fetch("SELECT epoch, event FROM leadership_history ORDER BY id")
            processed = await pool.fetchval("SELECT count(*) FROM signals WHERE outcome <> 'pending'")
        finally:
            for slot in cluster.slots:
                await cluster.stop(slot)
            await pool.close()
    gained = sum(1 for r in history if r["event"] == "gained")
    takeovers = Counter(r["event"] for r in history if r["event"] != "gained")
    return {
        "minutes": args.minutes,
        "seed": args.seed,
        "chaos_s": round(chaos_s, 1),
        "signals": {
            "sent": figures.sent,
            "acknowledged": len(figures.acknowledged),
            "processed": processed,
            "refused_503": figures.refused,
            "unanswered": figures.unanswered,
            "unacknowledged": figures.unacknowledged,
            "unexpected_replies": dict(sorted((str(k), v) for k, v in figures.unexpected.items())),
        },
        "faults": {kind: figures.faults[kind] for kind in KINDS},
        "failovers": gained - 1,  # every term after the first
        "terms_ended": dict(sorted(takeovers.items())),
        "leaderless_after_kill_s": summary(figures.leaderless_s),
        "restart_failures": figures.restart_failures,
        "exited_by_itself": figures.exited,
        "exit_codes": exits,
        "checks": checks,
        "passed": checks["violations"] == 0
        and figures.unacknowledged == 0
        and not figures.unexpected
        and figures.restart_failures == 0
        and figures.exited == 0
        and exits == [0] * INSTANCES,
    }


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="basso-chaos-") as directory:
        tmp = Path(directory)
        postgres, redis = EmbeddedPostgres(tmp / "pg"), EmbeddedRedis(tmp / "redis")
        try:
            database_url = await start_with_commit_times(postgres)  # the checker orders writes by commit time
            await asyncio.to_thread(redis.start)
            return await soak(args, tmp, database_url, redis)
        finally:
            await asyncio.to_thread(redis.stop)
            await asyncio.to_thread(postgres.stop)


def report(figures: dict[str, Any]) -> None:
    """The figures, for a person, on stderr."""
    signals, checks = figures["signals"], figures["checks"]
    lines = [
        f"chaos for {figures['chaos_s']} s (seed {figures['seed']})",
        f"signals: {signals['sent']} sent, {signals['acknowledged']} acknowledged, {signals['processed']} processed;"
        f" {signals['refused_503']} answered 503 and {signals['unanswered']} unanswered, all resent;"
        f" {signals['unacknowledged']} never acknowledged; unexpected replies {signals['unexpected_replies']}",
        "faults: " + ", ".join(f"{kind} {n}" for kind, n in figures["faults"].items()),
        f"failovers: {figures['failovers']} (terms ended: {figures['terms_ended']});"
        f" leaderless after a kill: {figures['leaderless_after_kill_s']} s",
        "checks: " + ", ".join(f"{name} {value}" for name, value in checks.items()),
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" load {os.getloadavg()[0]:.2f}",
        "PASSED" if figures["passed"] else "FAILED",
    ]
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="of chaos, before the backlog and the checks")
    parser.add_argument("--seed", type=int, default=None, help="the faults' and the stream's (default: random)")
    arguments = parser.parse_args()
    if arguments.seed is None:
        arguments.seed = random.randrange(2**31)
    result = asyncio.run(main(arguments))
    report(result)
    print(json.dumps(result))
    sys.exit(0 if result["passed"] else 1)
