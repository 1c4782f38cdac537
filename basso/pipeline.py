"""The live pipeline: processes stored signals one at a time, in arrival order, whenever it is woken.

A crash while processing a signal leaves it pending (nothing was committed) and the book is rebuilt from
the facts; the same signal is tried again. A signal that crashes processing three times is a poison
message: it is dead-lettered in PostgreSQL and the next one proceeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from basso.config import Config
from basso.processing import Processor
from basso.store.deadletters import bury_signal
from basso.store.fence import FenceLost
from basso.store.outcomes import next_pending

log = logging.getLogger(__name__)

POISON_CRASHES = 3


class Pipeline:
    """Processes pending signals in order; `wake()` after storing one."""

    def __init__(self, *, pool: asyncpg.Pool, config: Config, epoch: int, wall_clock: Callable[[], datetime]) -> None:
        self.processor = Processor(pool=pool, config=config, epoch=epoch, wall_clock=wall_clock)
        self.pool = pool
        self.epoch = epoch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._crashes: dict[int, int] = {}
        self.handled = 0
        self.failed = 0
        self.last_error = ""

    async def start(self) -> None:
        """Rebuild the book from the facts and start processing what is pending."""
        await self.processor.reload()
        self._task = asyncio.create_task(self._run(), name="basso-pipeline")
        self.wake()

    def wake(self) -> None:
        """A signal was stored: look for pending work."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop after the signal in flight (its transaction commits whole or not at all)."""
        if self._task is not None:
            self._task.cancel()
            # wait() never raises the task's CancelledError, so a cancellation of stop() itself still propagates.
            await asyncio.wait([self._task])

    def statistics(self) -> Mapping[str, Mapping[str, Any]]:
        """Per-actor statistics for /metrics."""
        return {"pipeline": {"handled": self.handled, "failed": self.failed, "queue_depth": 0,
                             "restarts": self.failed, "last_error": self.last_error}}

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while await self._step():
                pass

    async def _step(self) -> bool:
        pending = await next_pending(self.pool)
        if pending is None:
            return False
        try:
            await self.processor.process(pending)
        except FenceLost:
            log.error("leader fence lost: this instance stops processing")
            raise
        except Exception as exc:
            self.failed += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            crashes = self._crashes.get(pending.id, 0) + 1
            self._crashes[pending.id] = crashes
            log.exception("processing signal %s crashed (%d of %d)", pending.id, crashes, POISON_CRASHES)
            if crashes >= POISON_CRASHES:
                async with self.pool.acquire() as conn:
                    await bury_signal(conn, epoch=self.epoch, signal=pending.id, actor="pipeline",
                                      error=self.last_error, attempts=crashes)
                del self._crashes[pending.id]
            return True
        self.handled += 1
        self._crashes.pop(pending.id, None)
        return True

