"""Group commit: writes asked for while one is under way go together in the next, as one transaction.

A write that must serialise on a row (every fill moves the facts' version on) costs a commit, a wait for the disk,
and the row held meanwhile; written one by one, writes that arrive together queue behind each other's commits.
Here the first write goes at once, alone; those that arrive while it is under way wait for it, then go together.
So a lone write waits for nothing, and under load a batch's commit is shared by all in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

I = TypeVar("I")  # noqa: E741 - an item to write
R = TypeVar("R")


class GroupCommit(Generic[I, R]):
    """`write(items)` answers one result per item, in order; `submit(item)` is that item's result (or the
    exception the write of its batch raised)."""

    def __init__(self, write: Callable[[list[I]], Awaitable[Sequence[R]]]) -> None:
        self._write = write
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="group commit")
        # A caller that stops waiting cancels its future, not the write: its item may be in a batch under way.
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._write([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch + self._waiting:
                    future.cancel()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Stop: what is under way is cancelled, as are those waiting for it."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
