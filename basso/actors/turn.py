"""Whose turn it is to change the book: the SignalReceiver's decision in flight, or the order desk's fill.

With a real broker, fills (and rejects and cancels) are recorded while the next signal is being decided. A fill
that commits first moves the facts' version, the decision is refused at commit as decided against a stale book,
and the whole stage is run again: flat out, 38–57 % of decisions were (bench/orders.py, issue 13). So the two take
turns: the desk waits for the decision in flight to commit before it records, and the receiver waits for the
records under way before it reads the book for its next signal, which then includes them.

Taking turns only saves work; it never decides what is right. Each wait is bounded (`PATIENCE_S`): a decision
that never comes back (its leader lost the lease) or a record stuck on a database outage holds the other side up
no longer than that, and what then commits out of turn is refused by the version check as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["PATIENCE_S", "BookTurn"]

# A decision's way through the stages takes a few milliseconds; a fill recorded 50 ms late is still recorded
# long before a trader could look, while waiting longer would only cover a stage that is stuck anyway.
PATIENCE_S = 0.05


class BookTurn:
    """Decisions and the desk's records take turns (one shared object per pipeline)."""

    def __init__(self, patience_s: float = PATIENCE_S) -> None:
        self.patience_s = patience_s
        self.writes = 0  # records finished so far: a book read before the last one does not include it
        self._deciding = False
        self._decided = asyncio.Event()
        self._decided.set()
        self._desk_busy = 0  # records waiting for their turn or under way
        self._desk_idle = asyncio.Event()
        self._desk_idle.set()

    async def decide(self) -> None:
        """The receiver is about to read the book and hand out a signal: let the records under way finish first."""
        if not self._desk_idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._desk_idle.wait(), self.patience_s)
        self._deciding = True
        self._decided.clear()

    def decided(self) -> None:
        """Nothing is in flight any more (committed, refused, or nothing to hand out): the desk may record."""
        self._deciding = False
        self._decided.set()

    @contextlib.asynccontextmanager
    async def recording(self) -> AsyncIterator[None]:
        """Around one write of the desk that changes the book (a fill, a reject, a cancel)."""
        self._desk_busy += 1
        self._desk_idle.clear()
        try:
            if self._deciding:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._decided.wait(), self.patience_s)
            yield
        finally:
            self.writes += 1  # counted whether or not it committed: a needless re-read at worst
            self._desk_busy -= 1
            if not self._desk_busy:
                self._desk_idle.set()
