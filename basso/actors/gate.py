"""The pause gate: trading actors do nothing while this instance is not a recovered leader.

The gate is open only while both conditions hold: this instance **leads** (LeaderElector says so) and
**recovery is done** (Recovery says so). Each gated actor waits at the gate before it takes a message.
Closing the gate is not a crash: a gated actor that is part-way through a message has that work cancelled
at its next await point, the message stays at the head of its mailbox, and the actor parks at the gate.
When the gate reopens the message is handled again from the start — against the state Recovery has just
rebuilt, which is why work in progress is redone rather than resumed.

`wait_paused()` lets whoever closed the gate (LeaderElector losing its lease) wait until no gated actor
still has work in progress.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

__all__ = ["GateStatistics", "Pausable", "PauseGate"]


class Pausable(Protocol):
    """What the gate needs from a gated actor."""

    def pause_work(self) -> None:
        """Cancel work in progress (if any) at its next await point; the message is kept."""
        ...

    def is_paused(self) -> bool:
        """True when the actor has no work in progress (parked, idle with nothing to do, or not running)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class GateStatistics:
    """A snapshot of the gate."""

    open: bool
    leader: bool
    recovered: bool
    closes: int
    actors: int
    paused: int


class PauseGate:
    """Open only while this instance leads and recovery is done; closing it pauses every gated actor."""

    def __init__(self, *, leader: bool = False, recovered: bool = False) -> None:
        self._leader = leader
        self._recovered = recovered
        self._open = leader and recovered
        self._closes = 0
        self._actors: list[Pausable] = []
        self._open_waiters: list[asyncio.Future[None]] = []
        self._pause_waiters: list[asyncio.Future[None]] = []

    @property
    def is_open(self) -> bool:
        """True while both conditions hold."""
        return self._open

    @property
    def leader(self) -> bool:
        """Whether this instance holds leadership, as last reported."""
        return self._leader

    @property
    def recovered(self) -> bool:
        """Whether recovery has finished, as last reported."""
        return self._recovered

    def set_leader(self, leader: bool) -> None:
        """Report gaining (True) or losing (False) leadership."""
        self._leader = leader
        self._update()

    def set_recovered(self, recovered: bool) -> None:
        """Report recovery finished (True) or needed again (False)."""
        self._recovered = recovered
        self._update()

    async def wait_open(self) -> None:
        """Return once the gate is open (at once, without yielding, if it already is)."""
        while not self._open:
            waiter = asyncio.get_running_loop().create_future()
            self._open_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._open_waiters:
                    self._open_waiters.remove(waiter)

    async def wait_paused(self) -> None:
        """Return once no gated actor has work in progress (or the gate has opened again)."""
        while not self._open and not self._all_paused():
            waiter = asyncio.get_running_loop().create_future()
            self._pause_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._pause_waiters:
                    self._pause_waiters.remove(waiter)

    def register(self, actor: Pausable) -> None:
        """Make `actor` a gated actor (the runtime does this for children given a gate)."""
        if actor not in self._actors:
            self._actors.append(actor)

    def unregister(self, actor: Pausable) -> None:
        """Stop gating `actor`."""
        if actor in self._actors:
            self._actors.remove(actor)
        self.note_settled()

    def note_settled(self) -> None:
        """A gated actor has parked, gone idle or stopped: wake `wait_paused` callers if all have."""
        if self._pause_waiters and (self._open or self._all_paused()):
            _wake_all(self._pause_waiters)

    def statistics(self) -> GateStatistics:
        """A snapshot for /metrics and /health."""
        return GateStatistics(
            open=self._open,
            leader=self._leader,
            recovered=self._recovered,
            closes=self._closes,
            actors=len(self._actors),
            paused=sum(1 for actor in self._actors if actor.is_paused()),
        )

    def _all_paused(self) -> bool:
        return all(actor.is_paused() for actor in self._actors)

    def _update(self) -> None:
        now_open = self._leader and self._recovered
        if now_open == self._open:
            return
        self._open = now_open
        if now_open:
            _wake_all(self._open_waiters)
            _wake_all(self._pause_waiters)
            return
        self._closes += 1
        for actor in list(self._actors):
            actor.pause_work()


def _wake_all(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()
