"""What the pipeline tests share: a solo leader with its first deposit, and a way to wait for outcomes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.events import Observer
from basso.actors.receiver import ReceiverContext, SignalReceiver, Stages
from basso.actors.turn import BookTurn
from basso.config import Config
from basso.messages import Decide, ReceiverInbox, RolloverInbox, Settled, StopTrailerInbox
from basso.pipeline import Hooks, Pipeline, Runtime
from basso.store.capital import deposit_if_empty
from basso.store.fence import take_fence
from basso.supervisor import ChildSpec, Supervisor

CAPITAL = Decimal(5_000_000)
PROCESSED_AT = datetime(2026, 11, 25, 5, 1, tzinfo=UTC)  # the wall clock outcomes are stamped with


async def solo_leader(pool: asyncpg.Pool, at: datetime) -> int:
    """Take the fence as the only instance and deposit ₹50,00,000; the epoch."""
    async with pool.acquire() as conn:
        epoch = await take_fence(conn, "test", "solo")
        await deposit_if_empty(conn, epoch=epoch, amount=CAPITAL, at=at)
    return epoch


_UNFINISHED = (
    "SELECT (SELECT count(*) FROM signals WHERE outcome = 'pending')"
    " + (SELECT count(*) FROM orders WHERE status IN ('pending', 'sent', 'partial', 'unknown'))"
)


class Outcomes:
    """Counts committed outcomes so a test can wait for the n-th without sleeping."""

    def __init__(self) -> None:
        self.committed: list[int] = []
        self._changed = asyncio.Event()

    def __call__(self, settled: Settled) -> None:
        self.committed.append(settled.pending.id)
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.committed) < count:
            self._changed.clear()
            await self._changed.wait()

    async def wait_until_none_pending(self, pool: asyncpg.Pool, *, limit_s: float = 30.0) -> None:
        """Return once no stored signal is pending and no order is working (a decision commits before its
        orders fill). A commit whose reply was lost to a crash is found 'already processed' on retry and
        reported by no callback, so after each quiet second the database itself is asked."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while await pool.fetchval(_UNFINISHED):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"signals still pending after {limit_s} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_for(len(self.committed) + 1), 1.0)


def pipeline_for(
    pool: asyncpg.Pool,
    config: Config,
    epoch: int,
    *observers: Callable[[Settled], None],
    events: Observer | None = None,
    runtime: Runtime | None = None,
) -> Pipeline:
    """A solo leader's pipeline over `pool` that reports each commit to every one of `observers` (and each
    supervision event to `events`)."""

    def on_commit(settled: Settled) -> None:
        for observer in observers:
            observer(settled)

    return Pipeline(
        pool=pool,
        config=config,
        epoch=epoch,
        wall_clock=lambda: PROCESSED_AT,
        hooks=Hooks(on_commit=on_commit, observer=events),
        runtime=runtime or Runtime(),
    )


@contextlib.asynccontextmanager
async def receiving(
    pool: asyncpg.Pool,
    config: Config,
    epoch: Callable[[], int],
    turn: BookTurn | None = None,
    *,
    fills_at_once: bool = True,
) -> AsyncIterator[tuple[ActorRef[ReceiverInbox], ActorRef[Decide]]]:
    """A SignalReceiver alone under a supervisor, trading at `epoch()` with a broker that fills at once (paper) or
    not; the test reads its Sizer's mailbox."""
    sizer: ActorRef[Decide] = ActorRef("sizer")
    trailer: ActorRef[StopTrailerInbox] = ActorRef("stop_trailer")
    rollover: ActorRef[RolloverInbox] = ActorRef("rollover")
    receiver: ActorRef[ReceiverInbox] = ActorRef("receiver")
    context = ReceiverContext(
        pool=pool,
        config=config,
        stages=Stages(sizer=sizer, stop_trailer=trailer, rollover=rollover),
        epoch=epoch,
        turn=turn or BookTurn(),
        fills_at_once=fills_at_once,
    )
    async with Supervisor(
        name="root", children=[ChildSpec(name="receiver", factory=lambda: SignalReceiver(context), ref=receiver)]
    ):
        yield receiver, sizer
