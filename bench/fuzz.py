"""Fuzzing `POST /webhook` at scale: generated payloads against a running `basso run`.

Payloads come from hypothesis strategies over the webhook grammar (every field, plausible and implausible
values, valid signals fresh enough to be traded) and from raw byte mutations of them (flips, cuts, splices,
repeats, oversized bodies). Most carry the right secret so that they reach the parser and the store, not just
the authentication. The server is `basso run` in its own process on an embedded PostgreSQL and Redis (or
the URLs given). At the end, the checks:

* no reply was a 5xx, and the process is alive and /health/live answers 200;
* every request left exactly one audit row;
* every stored signal is one the server acknowledged, re-reads through the webhook parser to its own key,
  and was processed to an outcome other than `dead` (no signal crashed the pipeline); no dead letters.

Prints one JSON line: payloads, replies by status, stored signals, violations (a list: empty when it passes).

    python bench/fuzz.py [--payloads 100000] [--seed 1] [--senders 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the process tests' harness
from basso.config import load_config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from basso.rules.signals import idempotency_key, signal_from_object
from basso.timeutil import IST
from tests.processes import running

SECRET = "fuzz-secret"
FIELDS = [
    "type",
    "instrument",
    "position",
    "price",
    "stop",
    "lots",
    "atr",
    "er",
    "supertrend",
    "timestamp",
    "roc",
    "reason",
    "signal_id",
    "secret",
    "high",
    "low",
]
TYPES = ["BASE_ENTRY", "PYRAMID", "EXIT", "MARKET_DATA", "base_entry", "Exit", "ENTRY", ""]
INSTRUMENTS = ["BANK_NIFTY", "GOLD_MINI", "gold_mini", "SILVER_MINI", "NIFTY", "", "BANK NIFTY"]
POSITIONS = ["Long_1", "Long_2", "Long_6", "Long_7", "Long_0", "ALL", "all", "Short_1", "Long_", ""]


def _now_ist() -> str:
    return datetime.now(IST).replace(tzinfo=None, microsecond=0).isoformat()


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
numbers = (
    st.integers(min_value=-10, max_value=200_000)
    | st.floats(min_value=-1e6, max_value=1e7)
    | st.sampled_from([0, -0.0, 1e308, 5e-324, 2**63, "52000", "1e3", "NaN"])
)
timestamps = st.sampled_from(
    [
        "now",
        "2025-12-01T10:30:00",
        "2025-12-01T05:00:00Z",
        "2099-01-01T00:00:00",
        "yesterday",
        "",
        "2025-13-40T99:99:99",
        "2025-12-01T10:30:00+05:30",
    ]
)
field_values = {
    "type": st.sampled_from(TYPES) | json_values,
    "instrument": st.sampled_from(INSTRUMENTS) | json_values,
    "position": st.sampled_from(POSITIONS) | json_values,
    "timestamp": timestamps | json_values,
    "reason": st.text(max_size=300) | json_values,
    "signal_id": st.text(max_size=200) | st.none(),
    "secret": st.just(SECRET) | st.text(max_size=20),
    "lots": numbers | json_values,
}


@st.composite
def grammar_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A webhook object: a plausible signal, its fields each drawn valid or not, some missing, some extra."""
    kind = draw(st.sampled_from(["BASE_ENTRY", "PYRAMID", "EXIT", "MARKET_DATA"]))
    price = draw(st.floats(min_value=1, max_value=100_000))
    body: dict[str, Any] = {
        "type": kind,
        "instrument": draw(st.sampled_from(["BANK_NIFTY", "GOLD_MINI"])),
        "price": price,
        "timestamp": "now",
        "secret": SECRET,
    }
    if kind != "MARKET_DATA":
        body["position"] = "ALL" if kind == "EXIT" else ("Long_1" if kind == "BASE_ENTRY" else "Long_2")
    if kind in ("BASE_ENTRY", "PYRAMID"):
        body |= {
            "stop": price * 0.97,
            "lots": draw(st.integers(0, 5)),
            "atr": price * 0.006,
            "er": 0.8,
            "supertrend": price * 0.98,
        }
    if kind == "EXIT":
        body["reason"] = "fuzz"
    if kind == "MARKET_DATA":
        body["atr"] = price * 0.006
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        strategy = field_values.get(name, numbers | json_values)
        if draw(st.booleans()):
            body.pop(name, None)
        else:
            body[name] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=12))] = draw(json_values)  # an unknown field
    if draw(st.booleans()):
        body["signal_id"] = f"fuzz-{draw(st.integers(0, 2**40))}"
    return body


def corpus(size: int, seed: int) -> list[bytes]:
    """`size` bodies from the strategies: grammar objects mostly, and arbitrary JSON and bytes."""
    found: list[bytes] = []

    @settings(
        max_examples=size,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(grammar_bodies() | grammar_bodies() | grammar_bodies() | json_values | st.binary(max_size=400))
    def collect(body: Any) -> None:
        # The standard library's encoder writes what orjson will not: integers past 64 bits, NaN, Infinity.
        found.append(body if isinstance(body, bytes) else json.dumps(body).encode())

    random.seed(seed)  # hypothesis draws its own seed from `random` when not derandomised
    collect()
    return found


def mutate(body: bytes, rng: random.Random) -> bytes:
    """One raw byte mutation of `body`."""
    if not body:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
    at = rng.randrange(len(body))
    match rng.randrange(8):
        case 0:  # flip a bit
            return body[:at] + bytes([body[at] ^ (1 << rng.randrange(8))]) + body[at + 1 :]
        case 1:  # cut short
            return body[:at]
        case 2:  # insert random bytes
            return body[:at] + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8))) + body[at:]
        case 3:  # repeat a slice (duplicate keys, unbalanced brackets)
            end = rng.randint(at, len(body))
            return body[:end] + body[at:end] + body[end:]
        case 4:  # oversized: past the 10 KiB limit
            return body + b" " * rng.choice([10_000, 10_240, 20_000])
        case 5:  # an awkward byte: NUL, a lone surrogate's UTF-8, a BOM, an invalid lead byte
            return body[:at] + rng.choice([b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xff", b"\\u0000"]) + body[at:]
        case 6:  # deep nesting
            depth = rng.choice([100, 1000, 5000])
            return b"[" * depth + body + b"]" * depth
        case _:  # splice in another number
            return body[:at] + rng.choice([b"1e999", b"-0", b"NaN", b"Infinity", b"9" * 400]) + body[at:]


def payloads(total: int, seed: int) -> Iterator[bytes]:
    """`total` payloads: the hypothesis corpus, then mutations of it; "now" becomes the current IST time."""
    rng = random.Random(seed)
    base = corpus(max(1, min(total // 4, 5_000)), seed)  # generation is the slow part: mutations do the rest
    for n in range(total):
        body = base[n] if n < len(base) else mutate(rng.choice(base), rng)
        yield body.replace(b'"now"', f'"{_now_ist()}"'.encode())


async def send_all(url: str, total: int, seed: int, senders: int) -> tuple[Counter[int], set[str]]:
    """Send every payload; the replies by status, and the signal ids of the 200s."""
    statuses: Counter[int] = Counter()
    acknowledged: set[str] = set()
    queue = payloads(total, seed)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as session:

        async def sender() -> None:
            for body in queue:
                async with session.post(url, data=body) as response:
                    reply = await response.read()
                    statuses[response.status] += 1
                    if response.status == 200:
                        acknowledged.add(orjson.loads(reply)["signal_id"])

        await asyncio.gather(*(sender() for _ in range(senders)))
    return statuses, acknowledged


async def stored_violations(database_url: str, acknowledged: set[str], sent: int) -> tuple[int, list[str]]:
    """What the database holds that it should not: the number of stored signals, and each problem found."""
    config = load_config()
    problems: list[str] = []
    conn = await asyncpg.connect(database_url)
    try:
        audited = await conn.fetchval("SELECT count(*) FROM webhook_audit")
        if audited != sent:
            problems.append(f"{sent} requests but {audited} audit rows")
        rows = await conn.fetch("SELECT key, kind, instrument, payload, outcome FROM signals")
        for row in rows:
            if row["key"] not in acknowledged:
                problems.append(f"signal {row['key']!r} stored but never acknowledged")
            try:
                signal = signal_from_object(orjson.loads(row["payload"]), config)
            except ValueError as exc:
                problems.append(f"signal {row['key']!r} stored but not valid: {exc}")
                continue
            if idempotency_key(signal) != row["key"]:
                problems.append(f"signal {row['key']!r} re-reads to key {idempotency_key(signal)!r}")
            if row["outcome"] in ("dead", "pending"):
                problems.append(f"signal {row['key']!r} left {row['outcome']}")
        dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
        if dead:
            problems.append(f"{dead} dead letters")
        return len(rows), problems
    finally:
        await conn.close()


async def wait_processed(database_url: str) -> None:
    """Until nothing is pending (the server runs in another process: we poll, bounded)."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(1200):
            if not await conn.fetchval("SELECT count(*) FROM signals WHERE outcome = 'pending'"):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def fuzz(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        postgres = redis = None
        database_url, redis_url = args.database_url, args.redis_url
        if not database_url:
            postgres = EmbeddedPostgres(Path(tmp) / "pg", fsync=False)
            database_url = postgres.start()
        if not redis_url:
            redis = EmbeddedRedis(Path(tmp) / "redis")
            redis_url = redis.start()
        config = Path(tmp) / "fuzz.toml"
        config.write_text("[server]\nrate_limit_per_minute = 100000000\n")
        env = {"BASSO_WEBHOOK_SECRET": SECRET, "BASSO_CONFIG": str(config)}
        try:
            async with running(database_url, redis_url, Path(tmp) / "data", env) as instance:
                recovered = instance.log.index(await instance.wait_log("recovered for epoch", limit_s=120))
                started = datetime.now(UTC)
                statuses, acknowledged = await send_all(
                    f"{instance.url}/webhook", args.payloads, args.seed, args.senders
                )
                elapsed = (datetime.now(UTC) - started) / timedelta(seconds=1)
                async with instance.session.get(f"{instance.url}/health/live") as r:
                    live = r.status
                await wait_processed(database_url)
                stored, problems = await stored_violations(database_url, acknowledged, args.payloads)
                alive = instance.process.returncode is None
                if alive:
                    await instance.terminate()
            # The warnings since it started trading, for the report (the log is read to its end by now).
            logged = [
                line.strip()
                for line in instance.log[recovered + 1 :]
                if " WARNING " in line or " ERROR " in line or " CRITICAL " in line
            ]
        finally:
            if redis is not None:
                redis.stop()
            if postgres is not None:
                postgres.stop()
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    if server_errors:
        problems.insert(0, f"{server_errors} replies were 5xx")
    if not alive or live != 200:
        problems.insert(0, f"the process alive: {alive}, /health/live: {live}")
    return {
        "payloads": args.payloads,
        "seconds": round(elapsed, 1),
        "replies": {str(k): v for k, v in sorted(statuses.items())},
        "stored_signals": stored,
        "violations": problems[:20],
        "server_warnings": len(logged),
        "first_warnings": logged[:3],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--database-url", default="", help="an existing, empty database (default: embedded)")
    parser.add_argument("--redis-url", default="", help="an existing Redis (default: embedded)")
    result = asyncio.run(fuzz(parser.parse_args()))
    print(json.dumps(result))
    sys.exit(1 if result["violations"] else 0)
