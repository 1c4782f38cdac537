"""The garbage collector's settings for `basso run`, in one place, and why.

Every webhook and every actor share one event loop, so a collection pauses them all. Reference counting frees
almost everything Basso allocates per signal; the cyclic collector exists for the rare cycle, yet a full
(generation-2) collection walks every tracked object in the process. After start-up that is some 150,000
objects (imported modules, the configuration, the instrument tables, aiohttp and asyncpg machinery) that live
as long as the process: on a 2-core VM each full collection stalled the loop for tens of milliseconds, and
bench/webhook.py's acknowledgement p99 at 200 requests/s was 32–48 ms with the collector on against 9 ms with it
off (issue 15).

So, measured with bench/heap.py (collections and their pauses by generation, under bench/webhook.py's load):

* `freeze_survivors()` after start-up and after every Recovery moves what exists then (the code, the
  configuration, the rebuilt book) into the permanent generation: no collection walks it again, and a full
  collection only counts what was allocated since, so it is both rarer and short. What a Recovery replaces
  is unfrozen and collected first, so an old book does not stay frozen for the process's life.
* `GEN0_THRESHOLD` is raised from CPython's 700 to 10,000: a signal's handling allocates a few thousand
  container objects that die young by reference counting; at 700, a young collection ran every few
  signals for nothing. A young collection walks only the young objects, so 10,000 costs well under a
  millisecond; the older generations keep CPython's ratios (10, 10).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

__all__ = ["GEN0_THRESHOLD", "freeze_survivors", "tune_collector", "watch_collections"]

GEN0_THRESHOLD = 10_000


def tune_collector() -> None:
    """Set the thresholds above (once, when `basso run` starts)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def freeze_survivors() -> None:
    """Collect everything, then keep whatever survived out of every later collection (`gc.freeze`).

    Called after start-up and after each Recovery: a full collection then (a few tens of milliseconds, while
    the gate is still closed) rather than on the hot path. Objects frozen earlier are unfrozen first, so that
    what has died since (a replaced book) is collected rather than kept."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def watch_collections(observe: Callable[[int, float], None]) -> Callable[[], None]:
    """Call `observe(generation, seconds)` after every collection; returns the function that stops watching."""
    started = [0.0]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            observe(int(info["generation"]), time.perf_counter() - started[0])

    gc.callbacks.append(on_collection)

    def stop() -> None:
        if on_collection in gc.callbacks:
            gc.callbacks.remove(on_collection)

    return stop
