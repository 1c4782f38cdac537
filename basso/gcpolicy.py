"""The garbage collector's settings for `basso run`, in one place, and why.

Every webhook and every actor share one event loop, so a collection pauses them all. Reference counting frees
almost everything Basso allocates per signal; the cyclic collector exists for the rare cycle, yet a full
(generation-2) collection walks every tracked object in the process. After start-up that is some 150,000
objects (imported modules, the configuration, the instrument tables, aiohttp and asyncpg machinery) that live
as long as the process: on a 2-core VM each full collection stalled the loop for tens of milliseconds, and
bench/webhook.py's acknowledgement p99 at 200 requests/s was 32–48 ms with the collector on against 9 ms with it
off (issue 15).

So, measured with bench/heap.py (collections and their pauses by generation, under bench/webhook.py's load):

* `collect_and_freeze()` once start-up has imported and configured everything, before the pipeline starts
  (no lease is held yet, so the one full collection cannot delay a renewal), then `freeze_survivors()` once
  serving and after every Recovery: what exists then (the code, the configuration, the app, the rebuilt book)
  moves to the permanent generation, where no collection walks it again; a full collection then counts only
  what was allocated since, so it is both rare and short. `gc.freeze()` alone costs nothing (it moves a
  list); a full collection after Recovery did, and on a loaded 2-core machine it stalled the loop past the
  lease's renewal deadline (1.5 s): the term just gained was lost. What a replaced book leaves in cycles stays
  frozen: a few objects per leadership change.
* `GEN0_THRESHOLD` is raised from CPython's 700 to 10,000. Nearly everything a signal allocates dies by
  reference counting; what is left for the collector is about two objects per request (the cycles of an
  exception's traceback and frames: `bench/heap.py --garbage`). At 700, that made a young collection every
  ~400 requests: 21 of them and 2 middle ones in 40 s at 200 requests/s, pausing up to 46 ms on a loaded
  machine (each walks what is young and, in the middle ones, everything not yet frozen). At 10,000, with
  start-up frozen: none in the same 40 s, and the objects a collection can walk fell from 149,000 to 3,900.
  The older generations keep CPython's ratios (10, 10).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

__all__ = ["GEN0_THRESHOLD", "collect_and_freeze", "freeze_survivors", "tune_collector", "watch_collections"]

GEN0_THRESHOLD = 10_000


def tune_collector() -> None:
    """Set the thresholds above (once, when `basso run` starts)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def collect_and_freeze() -> None:
    """One full collection, then keep whatever survived out of every later one (before the pipeline starts)."""
    gc.collect()
    gc.freeze()


def freeze_survivors() -> None:
    """Keep every object that exists now out of every later collection (`gc.freeze`: no traversal, no pause)."""
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
