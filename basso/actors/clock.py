"""The clock the runtime reads and sleeps on, injectable so that tests of backoff and intensity need no sleeps.

Restart intensity windows, backoff delays, heartbeats and dead-letter times all come from a `Clock`.
Production uses `SystemClock`; tests use `FakeClock`, whose `sleep` advances its time at once.
Shutdown deadlines are *not* on this clock: they bound real work, so they run on the event loop's time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Monotonic time and a way to wait for it to pass."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` have passed on this clock."""
        ...


class SystemClock:
    """The real monotonic clock and `asyncio.sleep`."""

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


class FakeClock:
    """A test clock: `sleep` records the delay, moves time forward by it and returns after one loop turn.

    Yielding once (rather than not at all) keeps the scheduling shape of a real sleep, so code under test
    cannot accidentally rely on a sleep being synchronous.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The fake time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the fake time by `seconds` and yield to the loop once."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move the fake time forward by `seconds` without sleeping."""
        self.now += seconds
