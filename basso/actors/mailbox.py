"""A bounded mailbox with peek-process-ack: a message leaves only when its handler is done with it.

The mailbox belongs to the supervisor's child slot, not to an actor instance, so it outlives every restart:
whatever it has accepted is still there for the next incarnation. The owning actor `head()`s the oldest
message, handles it, and `ack()`s it; a crash in between leaves the message at the head, to be handled
again first after the restart. `head_crashes` counts the crashes the current head has caused (the runtime
dead-letters it on the third).

Bounded means backpressure: `put` waits while the mailbox is full and never drops. The waiting follows
`asyncio.Queue`'s algorithm (futures in FIFO order, a woken-but-cancelled waiter passes its wake-up on),
without its unfinished-task bookkeeping, so a message costs about what a queue put/get costs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Mailbox", "MailboxEmpty", "MailboxFull"]

M = TypeVar("M")


class MailboxFull(Exception):
    """`put_nowait` on a full mailbox (use `put` to wait for room instead)."""


class MailboxEmpty(Exception):
    """`head()` on an empty mailbox."""


class Mailbox(Generic[M]):
    """A bounded FIFO of messages for one consumer, with peek-then-acknowledge delivery."""

    __slots__ = ("_capacity", "_getter", "_items", "_putters", "head_crashes", "in_hand", "name")

    def __init__(self, name: str, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"mailbox {name!r}: capacity must be a whole number ≥ 1, got {capacity!r}")
        self.name = name
        self._capacity = capacity
        self._items: deque[M] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self.head_crashes = 0
        self.in_hand = False  # the owning actor is handling the head (it has not been acknowledged yet)

    def __repr__(self) -> str:
        return f"<Mailbox {self.name} {len(self._items)}/{self._capacity}>"

    def __len__(self) -> int:
        return len(self._items)

    @property
    def unhandled(self) -> int:
        """How many messages no handler has started on (the head, while it is being handled, is not one)."""
        return len(self._items) - self.in_hand

    @property
    def capacity(self) -> int:
        """The most messages the mailbox holds before senders wait."""
        return self._capacity

    @property
    def waiting_senders(self) -> int:
        """How many senders are waiting for room (backpressure in action)."""
        return sum(1 for waiter in self._putters if not waiter.done())

    def full(self) -> bool:
        """True when a `put` would wait."""
        return len(self._items) >= self._capacity

    def put_nowait(self, message: M) -> None:
        """Append `message`, or raise `MailboxFull`."""
        if len(self._items) >= self._capacity:
            raise MailboxFull(f"mailbox {self.name} is full ({self._capacity} messages)")
        self._items.append(message)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def put(self, message: M) -> None:
        """Append `message`, waiting while the mailbox is full (backpressure; nothing is ever dropped)."""
        while len(self._items) >= self._capacity:
            await self.wait_room()
        self.put_nowait(message)

    async def wait_room(self) -> None:
        """Wait until a message has been acknowledged (callers re-check `full()`: someone may be faster)."""
        waiter = asyncio.get_running_loop().create_future()
        self._putters.append(waiter)
        try:
            await waiter
        except BaseException:
            waiter.cancel()
            with contextlib.suppress(ValueError):
                self._putters.remove(waiter)
            # We were woken for a free slot we will not use: hand the wake-up to the next waiter.
            if not waiter.cancelled() and not self.full():
                self._wake_putter()
            raise

    def head(self) -> M:
        """The oldest message, left in place until `ack()`."""
        try:
            return self._items[0]
        except IndexError:
            raise MailboxEmpty(f"mailbox {self.name} is empty") from None

    async def wait_nonempty(self) -> None:
        """Wait until the mailbox holds a message (one consumer only: the owning actor)."""
        while not self._items:
            if self._getter is not None:
                raise RuntimeError(f"mailbox {self.name} already has a consumer waiting")
            getter = asyncio.get_running_loop().create_future()
            self._getter = getter
            try:
                await getter
            finally:
                self._getter = None

    def ack(self) -> M:
        """Remove the head (its handler is done with it) and let one waiting sender in."""
        message = self._items.popleft()
        self.head_crashes = 0
        if self._putters:
            self._wake_putter()
        return message

    async def get(self) -> M:
        """Wait for, remove and return the oldest message (for consumers that are not actors)."""
        await self.wait_nonempty()
        return self.ack()

    def _wake_putter(self) -> None:
        while self._putters:
            waiter = self._putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
