"""The order desk in process, against the fake OpenAlgo on a real socket and real PostgreSQL: decisions committed
as the Persister commits them, the desk taking their orders up as the Executor hands them over. Waits go through
an injected sleep that does not wait (the fake answers at once), so a test never sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from basso.actors.order_desk import DeskContext, OrderDesk
from basso.brokers.openalgo import OpenAlgoClient
from basso.config import Config
from basso.rules.contracts import contract_now
from basso.rules.decisions import decide_payload
from basso.rules.orders import work
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.capital import deposit_if_empty
from basso.store.fence import take_fence
from basso.store.inbox import store_signal
from basso.store.orders import working_orders
from basso.store.outcomes import commit_decision, next_pending
from tests.brokers.fake_openalgo import FakeOpenAlgo


async def no_wait(_seconds: float) -> None:
    return None


@dataclass
class Desk:
    pool: asyncpg.Pool
    config: Config
    fake: FakeOpenAlgo
    desk: OrderDesk
    epoch: int
    at: datetime
    # What happens while the desk waits between two steps of a chase, one per wait, in order (then nothing): how a
    # test makes the world move on mid-order without sleeping.
    meanwhile: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def wait(self, _seconds: float) -> None:
        """The desk's sleep: runs the next thing that happens meanwhile, if any, and returns at once."""
        if self.meanwhile:
            await self.meanwhile.pop(0)()

    async def decide(self, signal: dict[str, Any]) -> None:
        """Store `signal` and commit its decision against the stored facts, as the Persister does."""
        async with self.pool.acquire() as conn:
            await store_signal(conn, signal_from_object(signal, self.config))
            pending = await next_pending(conn)
            assert pending is not None
            book = await load_book(conn, self.config)
            decision = decide_payload(pending.payload, book, self.config)
            working = work(decision, book, self.config, key=pending.key, signal=pending.id)
            contracts = {e.instrument: contract_now(self.config, e.instrument, self.at) for e in decision.entries}
            await commit_decision(
                conn,
                epoch=self.epoch,
                signal=pending,
                working=working,
                at=self.at,
                broker="openalgo",
                contracts=contracts,
            )

    async def take_up(self) -> None:
        """Hand every working order to the desk, as the Executor does."""
        async with self.pool.acquire() as conn:
            for order in await working_orders(conn):
                self.desk.take_up(order)

    async def work(self) -> None:
        """Take up every working order and wait until each is worked as far as it can be."""
        await self.take_up()
        await self.desk.wait_idle()


@asynccontextmanager
async def desk_on(database_url: str, config: Config, at: datetime) -> AsyncIterator[Desk]:
    """A leader at ₹50 L with an order desk on the fake OpenAlgo, its wall clock stopped at `at`."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    fake = FakeOpenAlgo()
    await fake.start()
    client = OpenAlgoClient(base_url=fake.url, api_key=fake.api_key, sleep=no_wait)
    try:
        async with pool.acquire() as conn:
            epoch = await take_fence(conn, "a", "startup")
            await deposit_if_empty(conn, epoch=epoch, amount=Decimal(5_000_000), at=at)

        async def nothing() -> None:
            return None

        def fence_lost(lost: object) -> None:
            raise AssertionError(f"the fence was lost: {lost}")

        desk: Desk | None = None

        async def wait(seconds: float) -> None:
            assert desk is not None
            await desk.wait(seconds)

        context = DeskContext(
            pool=pool,
            config=config,
            client=client,
            epoch=lambda: epoch,
            wall_clock=lambda: at,
            on_book_changed=nothing,
            on_fence_lost=fence_lost,
            sleep=wait,
        )
        desk = Desk(pool, config, fake, OrderDesk(context), epoch, at)
        yield desk
    finally:
        await client.close()
        await fake.close()
        await pool.close()
