"""What the heap of `basso run` holds, and what the garbage collector costs it, under bench/webhook.py's load.

`basso run` is started in its own process with tracemalloc on and a hook on every collection; after a warm-up
and again at the end of the fixed-rate load the server writes a snapshot (on SIGUSR1). Prints the allocation
sites that grew most between the two, the collections by generation with their longest and total pauses, and
one JSON line (gen2_collections, gen2_max_ms, gc_max_ms, gc_total_ms, tracked_objects_end, heap_growth_kib).

    python bench/heap.py [--rate 200] [--duration 60] [--no-tracemalloc] [--gc cpython]

tracemalloc slows every allocation several-fold: for pause figures that match production, pass
--no-tracemalloc (the hooks on collections stay).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pickle
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhook import Signals, fixed_rate, serve

from basso.embedded import EmbeddedPostgres, free_port


def serve_with_probes(out: Path, trace: bool, policy: str, argv: list[str]) -> int:
    """In the server's process: hook every collection, write a snapshot on SIGUSR1, then run `basso run`."""
    import basso.gcpolicy

    if policy != "basso":  # as bench/gcvariant.py: patched before basso.server imports them by name
        basso.gcpolicy.tune_collector = basso.gcpolicy.freeze_survivors = lambda: None
        basso.gcpolicy.collect_and_freeze = lambda: None
    from basso.cli import main

    pauses: list[tuple[int, float, float]] = []  # (generation, when, seconds)
    began: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((int(info["generation"]), time.monotonic(), time.perf_counter() - began[0]))

    gc.callbacks.append(on_gc)
    if os.environ.get("BENCH_SAVE_GARBAGE"):
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what each collection frees, to name it
    if trace:
        tracemalloc.start(8)
    taken = [0]

    def snapshot(_signum: int, _frame: object) -> None:
        taken[0] += 1
        stats = {
            "pauses": list(pauses),
            "tracked": len(gc.get_objects()),
            "counts": gc.get_count(),
            "frozen": gc.get_freeze_count(),
            "thresholds": gc.get_threshold(),
            "garbage": Counter(type(o).__qualname__ for o in gc.garbage).most_common(25),
        }
        if trace:
            tracemalloc.take_snapshot().dump(str(out / f"snapshot-{taken[0]}.trace"))
        (out / f"stats-{taken[0]}.pickle").write_bytes(pickle.dumps(stats))
        (out / f"done-{taken[0]}").touch()

    signal.signal(signal.SIGUSR1, snapshot)
    return main(argv)


async def wait_for_file(path: Path) -> None:
    for _ in range(600):
        if await asyncio.to_thread(path.exists):
            return
        await asyncio.sleep(0.1)  # the server writes it from a signal handler in another process: we poll
    raise RuntimeError(f"the server did not write {path}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        postgres = EmbeddedPostgres(out / "pg")
        database_url = postgres.start()
        port = free_port()
        process = await serve(
            database_url,
            out / "data",
            port,
            launcher=(__file__, "--serve", str(out), "0" if args.no_tracemalloc else "1", args.gc, "--"),
            extra_env={"BENCH_SAVE_GARBAGE": "1"} if args.garbage else None,
        )
        try:
            url = f"http://127.0.0.1:{port}/webhook"
            signals = Signals()
            async with aiohttp.ClientSession() as session:
                await fixed_rate(session, url, signals, args.rate, args.warmup)
                process.send_signal(signal.SIGUSR1)
                await wait_for_file(out / "done-1")
                await fixed_rate(session, url, signals, args.rate, args.duration)
                process.send_signal(signal.SIGUSR1)
                await wait_for_file(out / "done-2")
        finally:
            process.terminate()
            await process.wait()
            postgres.stop()
        first = pickle.loads((out / "stats-1.pickle").read_bytes())
        last = pickle.loads((out / "stats-2.pickle").read_bytes())
        growth: list[tracemalloc.StatisticDiff] = []
        if not args.no_tracemalloc:
            before = tracemalloc.Snapshot.load(str(out / "snapshot-1.trace"))
            after = tracemalloc.Snapshot.load(str(out / "snapshot-2.trace"))
            growth = after.compare_to(before, "traceback")
    pauses = [p for p in last["pauses"] if p[1] > (first["pauses"][-1][1] if first["pauses"] else 0)]
    print(
        f"thresholds {last['thresholds']}, frozen {last['frozen']}, tracked objects: {first['tracked']} after "
        f"warm-up, {last['tracked']} at the end"
    )
    if last["garbage"]:
        print("cyclic garbage collected (objects by type):", ", ".join(f"{n} {c}" for n, c in last["garbage"]))
    for generation in (0, 1, 2):
        mine = [p[2] * 1000 for p in pauses if p[0] == generation]
        if mine:
            print(f"generation {generation}: {len(mine)} collections, max {max(mine):.2f} ms, total {sum(mine):.1f} ms")
    for diff in growth[: args.top]:
        print(f"{diff.size_diff / 1024:+.1f} KiB, {diff.count_diff:+d} blocks")
        for frame in diff.traceback.format()[-8:]:
            print("    " + frame)
    gen2 = [p[2] * 1000 for p in pauses if p[0] == 2]
    return {
        "gen2_collections": len(gen2),
        "gen2_max_ms": round(max(gen2, default=0.0), 2),
        "gc_max_ms": round(max((p[2] * 1000 for p in pauses), default=0.0), 2),
        "gc_total_ms": round(sum(p[2] * 1000 for p in pauses), 1),
        "tracked_objects_end": last["tracked"],
        "heap_growth_kib": round(sum(d.size_diff for d in growth) / 1024, 1) if growth else None,
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        rest = sys.argv[sys.argv.index("--") + 1 :]
        sys.exit(serve_with_probes(Path(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], rest))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument("--garbage", action="store_true", help="name the types of the cyclic garbage collected")
    parser.add_argument(
        "--gc",
        choices=("basso", "cpython"),
        default="basso",
        help="the server's collector policy: basso/gcpolicy.py, or CPython's defaults",
    )
    print(json.dumps(asyncio.run(run(parser.parse_args()))))
