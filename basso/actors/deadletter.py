"""Dead letters: messages that crashed their actor too often, set aside with the error so the actor moves on.

The sink is pluggable: any async callable taking a `DeadLetter`. The default keeps them in memory and logs
them; a later issue stores them in PostgreSQL and shows them in the API. If the sink itself fails, the
message stays at the head of its mailbox (nothing is lost) and is offered to the sink again after its next
crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DeadLetter", "DeadLetterBox", "DeadLetterSink"]

logger = logging.getLogger("basso.actors")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A poison message, the actor it crashed, how often, and the last error."""

    actor: str
    message: object
    error_type: str
    error: str
    crashes: int
    at: float


class DeadLetterSink(Protocol):
    """Where dead letters go: an async callable."""

    async def __call__(self, letter: DeadLetter) -> None:
        """Record `letter` durably enough that the actor may drop the message."""
        ...


class DeadLetterBox:
    """The default sink: dead letters kept in memory, each one logged as an error."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def __call__(self, letter: DeadLetter) -> None:
        """Keep `letter` and log it."""
        self.letters.append(letter)
        logger.error(
            "dead letter from %s after %d crashes: %s: %s (message %r)",
            letter.actor,
            letter.crashes,
            letter.error_type,
            letter.error,
            letter.message,
        )
