"""GroupCommit: a lone write goes at once; writes asked for while one is under way go together in the next."""

from __future__ import annotations

import asyncio

import pytest

from basso.actors.group_commit import GroupCommit


class Writes:
    """Records each batch; the first waits for `release` once it has begun, when `hold` is set."""

    def __init__(self, *, hold: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.begun = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def write(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        self.begun.set()
        await self.release.wait()
        if "bad" in items:
            raise ValueError("the batch with 'bad' in it failed")
        return [f"{item} written" for item in items]


async def test_a_lone_write_goes_at_once_and_alone() -> None:
    writes = Writes()
    group = GroupCommit(writes.write)
    assert await group.submit("a") == "a written"
    assert await group.submit("b") == "b written"
    assert writes.batches == [["a"], ["b"]]


async def test_writes_asked_for_while_one_is_under_way_go_together_next() -> None:
    writes = Writes(hold=True)
    group = GroupCommit(writes.write)
    first = asyncio.create_task(group.submit("a"))
    await writes.begun.wait()  # [a] is being written
    rest = [asyncio.create_task(group.submit(item)) for item in ("b", "c")]
    writes.release.set()
    assert await asyncio.gather(first, *rest) == ["a written", "b written", "c written"]
    assert writes.batches == [["a"], ["b", "c"]]


async def test_a_failed_write_fails_its_own_batch_only() -> None:
    writes = Writes(hold=True)
    group = GroupCommit(writes.write)
    first = asyncio.create_task(group.submit("a"))
    await writes.begun.wait()
    failing = [asyncio.create_task(group.submit(item)) for item in ("bad", "c")]
    writes.release.set()
    assert await first == "a written"
    for task in failing:
        with pytest.raises(ValueError, match="the batch with 'bad' in it failed"):
            await task
    assert await group.submit("d") == "d written"  # the next batch goes as usual
    assert writes.batches == [["a"], ["bad", "c"], ["d"]]


async def test_a_caller_that_stops_waiting_does_not_stop_its_write() -> None:
    writes = Writes(hold=True)
    group = GroupCommit(writes.write)
    caller = asyncio.create_task(group.submit("a"))
    await writes.begun.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    writes.release.set()
    assert await group.submit("b") == "b written"  # after [a], which was written all the same
    assert writes.batches == [["a"], ["b"]]


async def test_closing_cancels_the_write_under_way_and_those_waiting_for_it() -> None:
    writes = Writes(hold=True)
    group = GroupCommit(writes.write)
    first = asyncio.create_task(group.submit("a"))
    await writes.begun.wait()
    second = asyncio.create_task(group.submit("b"))
    await group.close()
    for task in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert writes.batches == [["a"]]
