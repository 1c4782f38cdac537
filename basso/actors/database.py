"""The base of actors that talk to PostgreSQL: each incarnation holds one connection and gives it back."""

from __future__ import annotations

from typing import TypeVar

import asyncpg

from basso.actors.base import Actor
from basso.store.held import HeldConnection

M = TypeVar("M")


class DatabaseActor(Actor[M]):
    """An actor with a connection of its own (`self.db`), released when the incarnation stops or crashes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.db = HeldConnection(pool)

    async def on_stop(self) -> None:
        await self.db.release()
