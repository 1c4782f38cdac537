"""The mailbox: bounded with backpressure (never dropping), FIFO, peek until acknowledged."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import pytest

from basso.actors import Mailbox, MailboxEmpty, MailboxFull

T = TypeVar("T")


async def test_a_message_stays_at_the_head_until_acknowledged() -> None:
    box: Mailbox[str] = Mailbox("box", 4)
    box.put_nowait("a")
    box.put_nowait("b")
    assert box.head() == "a"
    assert box.head() == "a"
    assert box.ack() == "a"
    assert box.head() == "b"


async def test_put_nowait_on_a_full_mailbox_refuses_rather_than_drops() -> None:
    box: Mailbox[int] = Mailbox("box", 2)
    box.put_nowait(1)
    box.put_nowait(2)
    with pytest.raises(MailboxFull, match="box is full"):
        box.put_nowait(3)
    assert [box.ack(), box.ack()] == [1, 2]


async def test_head_of_an_empty_mailbox_is_an_error_naming_it() -> None:
    with pytest.raises(MailboxEmpty, match="inbox is empty"):
        Mailbox[int]("inbox", 1).head()


async def put_after_signal(box: Mailbox[T], item: T, about_to_put: asyncio.Event) -> None:
    """Signal, then put. Setting the event and reaching the put's wait happen in one step of this task,
    so when the signalled test resumes, this sender is already waiting (asyncio runs a step to its end)."""
    about_to_put.set()
    await box.put(item)


async def test_a_sender_waits_while_full_and_gets_in_after_an_ack() -> None:
    box: Mailbox[int] = Mailbox("box", 1)
    box.put_nowait(1)
    waiting = asyncio.Event()
    sender = asyncio.create_task(put_after_signal(box, 2, waiting))
    await waiting.wait()
    assert not sender.done()
    assert box.waiting_senders == 1
    assert len(box) == 1
    box.ack()
    await sender
    assert box.head() == 2


async def test_many_senders_through_a_small_mailbox_lose_nothing_and_keep_each_senders_order() -> None:
    box: Mailbox[tuple[int, int]] = Mailbox("box", 3)

    async def sender(who: int) -> None:
        for n in range(200):
            await box.put((who, n))

    senders = [asyncio.create_task(sender(who)) for who in range(5)]
    received = [await box.get() for _ in range(1000)]
    await asyncio.gather(*senders)
    for who in range(5):
        assert [n for w, n in received if w == who] == list(range(200))


async def test_a_cancelled_sender_that_was_woken_passes_the_free_slot_on() -> None:
    box: Mailbox[str] = Mailbox("box", 1)
    box.put_nowait("held")
    first_waiting, second_waiting = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(put_after_signal(box, "first", first_waiting))
    second = asyncio.create_task(put_after_signal(box, "second", second_waiting))
    await first_waiting.wait()
    await second_waiting.wait()
    assert box.waiting_senders == 2
    box.ack()  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs: `second` must get the slot instead
    await second
    assert first.cancelled()
    assert box.head() == "second"


async def test_capacity_must_be_a_positive_whole_number() -> None:
    with pytest.raises(ValueError, match="capacity must be a whole number ≥ 1, got 0"):
        Mailbox("box", 0)
