"""Event-loop lag: how late a timer fires. Every webhook and every actor shares the one event loop, so a loop
held up by CPU work (or a process the machine starves) delays them all; /metrics shows the latest figure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def watch_loop_lag(
    record: Callable[[float], None],
    *,
    interval_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Forever: sleep `interval_s`, then `record` how much later than asked the loop woke up (seconds)."""
    while True:
        asked_at = clock()
        await sleep(interval_s)
        record(max(0.0, clock() - asked_at - interval_s))
