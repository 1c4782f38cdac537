"""Small actors and messages the runtime tests share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from basso.actors import Actor, ActorRef
from basso.messages import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Numbered(Message):
    """A test message with a sequence number and an optional instruction for the handler."""

    seq: int
    crash_before: int = 0  # the handler raises before sending while attempt ≤ this
    crash_after: int = 0  # the handler raises after sending while attempt ≤ this


class Journal:
    """What the test actors did, kept outside them so that it survives their restarts."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


class Forwarder(Actor[Numbered]):
    """Records lifecycle and messages in the journal, crashes when the message says so, forwards to `to`."""

    def __init__(self, label: str, journal: Journal, to: ActorRef[Numbered] | None = None) -> None:
        self.label = label
        self.journal = journal
        self.to = to

    async def on_start(self) -> None:
        self.journal(f"start {self.label}")

    async def on_stop(self) -> None:
        self.journal(f"stop {self.label}")

    async def handle(self, message: Numbered) -> None:
        self.journal(f"{self.label} {message.seq} attempt {self.attempt}")
        if self.attempt <= message.crash_before:
            raise RuntimeError(f"{self.label} told to crash on {message.seq}")
        if self.to is not None:
            await self.send(self.to, message)
        if self.attempt <= message.crash_after:
            raise RuntimeError(f"{self.label} told to crash after sending {message.seq}")


class Blocker(Actor[Numbered]):
    """Waits inside handle until `release` is set; records entry and cancellation."""

    def __init__(
        self, journal: Journal, release: asyncio.Event, entered: asyncio.Event, to: ActorRef[Numbered] | None = None
    ) -> None:
        self.journal = journal
        self.release = release
        self.entered = entered
        self.to = to

    async def handle(self, message: Numbered) -> None:
        self.journal(f"enter {message.seq}")
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.journal(f"cancelled {message.seq}")
            raise
        if self.to is not None:
            await self.send(self.to, message)
        self.journal(f"done {message.seq}")


async def drain(ref: ActorRef[Numbered], count: int) -> list[int]:
    """Take `count` messages out of a plain mailbox (the end of a test pipeline) and return their numbers."""
    return [(await ref.mailbox.get()).seq for _ in range(count)]
