"""Whose turn it is to change the book: the SignalReceiver's decision in flight, or the order desk's records.

With a real broker, fills (and rejects and cancels) are recorded while the next signal is being decided. A fill
that commits first moves the facts' version, the decision is refused at commit as decided against a stale book,
and the whole stage is run again: flat out, 38–57 % of decisions were (bench/orders.py, issue 13). So the two take
turns. From the moment the receiver wants to decide, a record that comes waits until the decision has committed;
the records already under way finish first, and the book read after them includes them. When the decision has
committed, every record that waited is let through at once, before the receiver can want the next turn: the desk
is never starved by decisions that follow one another, and a decision never by a desk that keeps recording.

Taking turns only saves work; it never decides what is right. Each wait is bounded (`PATIENCE_S`): a decision
that never comes back (its leader lost the lease) or a record stuck on a database outage holds the other side up
no longer than that, and what then commits out of turn is refused by the version check as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["PATIENCE_S", "BookTurn"]

# A decision's way through the stages takes a few milliseconds, a batch of them (basso/actors/receiver.py) up to a
# couple of hundred on a busy machine, and so do the records let through after it (each moves the one row that
# holds the facts' version: they commit one after another). A fill recorded a second late is still recorded long
# before a trader could look; waiting longer would only cover a stage, or a database, that is stuck anyway.
PATIENCE_S = 1.0


class BookTurn:
    """Decisions and the desk's records take turns (one shared object per pipeline)."""

    def __init__(self, patience_s: float = PATIENCE_S) -> None:
        self.patience_s = patience_s
        self.writes = 0  # records finished so far: a book read before the last one does not include it
        self._deciding = False
        self._waiting: list[asyncio.Future[None]] = []  # records waiting for the decision in flight
        self._under_way = 0  # records let through and not finished
        self._desk_idle = asyncio.Event()
        self._desk_idle.set()

    async def decide(self) -> None:
        """The receiver is about to read the book and hand out a signal: records that come now wait for it, and
        those under way finish first."""
        self._deciding = True
        if self._under_way:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._desk_idle.wait(), self.patience_s)

    def decided(self) -> None:
        """Nothing is in flight any more (committed, refused, or nothing to hand out): the records that waited go,
        counted as under way from now, so a decision that follows at once waits for them."""
        self._deciding = False
        waiting, self._waiting = self._waiting, []
        for turn in waiting:
            turn.set_result(None)
            self._enter()

    @contextlib.asynccontextmanager
    async def recording(self) -> AsyncIterator[None]:
        """Around one write of the desk that changes the book (a fill, a reject, a cancel)."""
        entered = False
        try:
            if self._deciding:
                turn = asyncio.get_running_loop().create_future()
                self._waiting.append(turn)
                try:
                    await asyncio.wait_for(asyncio.shield(turn), self.patience_s)
                except TimeoutError:
                    pass  # the decision is stuck: record all the same (the version check still guards)
                finally:
                    entered = turn.done()  # let through by `decided`
                    if not entered:  # out of patience, or cancelled while waiting
                        self._waiting.remove(turn)
                        turn.cancel()
            if not entered:
                self._enter()
                entered = True
            yield
        finally:
            if entered:
                self.writes += 1  # counted whether or not it committed: a needless re-read at worst
                self._under_way -= 1
                if not self._under_way:
                    self._desk_idle.set()

    def _enter(self) -> None:
        self._under_way += 1
        self._desk_idle.clear()
