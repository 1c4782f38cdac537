"""The dashboard's live-update feed: a generation counter that wakes every open event stream at once.

The server calls `notify()` on each committed outcome, so a browser hears of it within one render; each stream
also looks at the facts on its own every `poll_s` (a follower commits nothing itself, and an operator's action
on another instance changes the facts here too).
"""

from __future__ import annotations

import asyncio
import contextlib


class DashboardFeed:
    """`notify()` moves the generation on; `wait_changed(seen, timeout)` returns once it has moved past `seen`."""

    def __init__(self) -> None:
        self.generation = 0
        self.closed = False  # the server is stopping: every stream ends
        self._changed = asyncio.Event()

    def close(self) -> None:
        """End every stream (the server is shutting down: it waits for open requests, and a stream never ends)."""
        self.closed = True
        self.notify()

    def notify(self, *_: object) -> None:
        """Something committed: wake every waiting stream (callable as an `on_commit` observer)."""
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()  # the next waiters wait for the next change

    async def wait_changed(self, seen: int, at_most_s: float) -> int:
        """The generation once it is past `seen`, or after `at_most_s` seconds, whichever comes first."""
        if self.generation == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), at_most_s)
        return self.generation
