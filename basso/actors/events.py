"""What happens in a supervision tree, as values: exits, restarts, escalations.

A supervisor hands every event to its observer (an ordinary callable). Logging and metrics can watch the
tree this way, and tests wait for "the actor was restarted" with `EventLog.wait_for` instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ChildExited",
    "ChildRestarting",
    "ChildStarted",
    "Escalated",
    "EventLog",
    "ExitReason",
    "Observer",
    "SupervisorEvent",
]


class ExitReason(StrEnum):
    """Why a child's task ended."""

    NORMAL = "normal"  # the child finished of its own accord
    SHUTDOWN = "shutdown"  # its supervisor stopped it
    CRASHED = "crashed"  # an exception escaped it
    KILLED = "killed"  # its task was cancelled by someone other than its supervisor


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorEvent:
    """Something that happened to the child at `path`, at monotonic time `at`."""

    path: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStarted(SupervisorEvent):
    """The child reported ready; `generation` counts its starts (1 is the first)."""

    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildExited(SupervisorEvent):
    """The child's task ended unexpectedly; `at` is when it ended."""

    reason: ExitReason
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildRestarting(SupervisorEvent):
    """The supervisor will restart the child after `delay_s` of backoff."""

    delay_s: float
    restarts_in_window: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalated(SupervisorEvent):
    """The supervisor at `path` exceeded its restart intensity, stopped its children and gave up."""

    error: str


Observer = Callable[[SupervisorEvent], None]


class EventLog:
    """An observer that keeps every event and lets a coroutine wait for the ones it expects."""

    def __init__(self) -> None:
        self.events: list[SupervisorEvent] = []
        self._waiters: list[tuple[Callable[[SupervisorEvent], bool], int, asyncio.Future[None]]] = []

    def __call__(self, event: SupervisorEvent) -> None:
        """Record `event` and wake whoever it satisfies."""
        self.events.append(event)
        for predicate, count, waiter in list(self._waiters):
            if not waiter.done() and self.count(predicate) >= count:
                waiter.set_result(None)

    def count(self, predicate: Callable[[SupervisorEvent], bool]) -> int:
        """How many recorded events satisfy `predicate`."""
        return sum(1 for event in self.events if predicate(event))

    def matching(self, predicate: Callable[[SupervisorEvent], bool]) -> list[SupervisorEvent]:
        """The recorded events that satisfy `predicate`, in order."""
        return [event for event in self.events if predicate(event)]

    async def wait_for(self, predicate: Callable[[SupervisorEvent], bool], count: int = 1) -> None:
        """Return once at least `count` recorded events (earlier ones included) satisfy `predicate`."""
        if self.count(predicate) >= count:
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (predicate, count, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        finally:
            self._waiters.remove(entry)
