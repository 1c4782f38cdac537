"""Event-loop lag: how late a timer fires. Every webhook and every actor shares the one event loop, so a loop
held up by CPU work (or a process the machine starves) delays them all; /metrics shows the latest figure.

Each measurement also says how busy the loop's thread was meanwhile: the CPU time it used over the wall time that
passed. A late wake-up at a share near 1 is our own code holding the loop (a long callback, a collection); near 0,
the thread was not running at all — the machine gave its cores to other processes, or a call blocked it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def watch_loop_lag(
    record: Callable[[float, float], None],
    *,
    interval_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    cpu_clock: Callable[[], float] = time.thread_time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Forever: sleep `interval_s`, then `record` how much later than asked the loop woke up (seconds) and the
    share of the time since it asked that the loop's thread spent on the CPU (0 to 1)."""
    while True:
        asked_at, cpu_at = clock(), cpu_clock()
        await sleep(interval_s)
        woke_at, cpu_now = clock(), cpu_clock()
        elapsed = woke_at - asked_at
        busy = min(1.0, max(0.0, (cpu_now - cpu_at) / elapsed)) if elapsed > 0 else 0.0
        record(max(0.0, elapsed - interval_s), busy)
