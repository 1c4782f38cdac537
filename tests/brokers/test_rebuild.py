"""Facts changed behind the SignalReceiver's back reach it as `Rebuild`s (Recovery's, the Persister's for a real
broker's fills): however many come and whenever they come, the next signal is decided against the facts after the
last of them. The order desk's own records are counted by the turn they take with the receiver (BookTurn) and only
wake it (a `Poll`): the same holds for them (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.turn import BookTurn
from basso.config import Config
from basso.enums import LedgerKind
from basso.messages import Committed, Decide, Poll, Rebuild, ReceiverInbox
from basso.rules.book import Book
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.capital import move_capital
from basso.store.inbox import store_signal
from tests.pipeline_support import PROCESSED_AT, receiving
from tests.replay import commit_on_paper
from tests.store.test_outcomes import leader_with_an_entry
from tests.web.test_webhook import payload


async def entry_committed(
    pool: asyncpg.Pool, config: Config, epoch: int, sizer: ActorRef[Decide]
) -> tuple[Book, Decide]:
    """The pending Bank Nifty entry handed out, decided and committed on paper: the book after it, and the `Decide`
    (whose `Committed` the test sends when it chooses)."""
    decided = await asyncio.wait_for(sizer.mailbox.get(), 10)
    assert isinstance(decided, Decide)
    async with pool.acquire() as conn:
        after = await commit_on_paper(
            conn, epoch=epoch, pending=decided.pending, book=decided.book, config=config, at=PROCESSED_AT
        )
    return after, decided


async def a_fill(pool: asyncpg.Pool, config: Config, epoch: int, rupees: int) -> int:
    """A write that moves the facts' version on, as a fill does (a deposit: its effect on the book is plain to
    see); the facts' new version."""
    async with pool.acquire() as conn:
        await move_capital(
            conn,
            epoch=epoch,
            kind=LedgerKind.DEPOSIT,
            amount=Decimal(rupees),
            at=PROCESSED_AT,
            note="stands for a fill",
        )
        return (await load_book(conn, config)).version


async def next_signal(
    pool: asyncpg.Pool, config: Config, receiver: ActorRef[ReceiverInbox], sizer: ActorRef[Decide], epoch: int
) -> Decide:
    """Store the Gold Mini entry, wake the receiver, and return what it hands the Sizer for it."""
    async with pool.acquire() as conn:
        await store_signal(conn, signal_from_object(payload("BASE_ENTRY_GOLD_MINI"), config))
    await receiver.tell(Poll(epoch=epoch))
    decided = await asyncio.wait_for(sizer.mailbox.get(), 10)
    assert isinstance(decided, Decide)
    return decided


async def test_a_fill_while_a_signal_is_in_flight_is_not_hidden_by_that_signals_committed_book(
    pool: asyncpg.Pool, config: Config
) -> None:
    async with pool.acquire() as conn:
        epoch, _entry = await leader_with_an_entry(conn, config, "a")  # ₹50 L and the Bank Nifty entry pending
    async with receiving(pool, config, lambda: epoch) as (receiver, sizer):
        after, decided = await entry_committed(pool, config, epoch, sizer)
        # A fill lands after that commit, and its Rebuild reaches the receiver before the signal's Committed does:
        # the book the Committed carries is then one version behind the facts.
        version = await a_fill(pool, config, epoch, 1_000_000)
        await receiver.tell(Rebuild(epoch=epoch))
        await receiver.tell(Committed(signal_row=decided.pending.id, book=after, epoch=epoch))
        decided = await next_signal(pool, config, receiver, sizer, epoch)
        assert decided.book.version == version == after.version + 1
        # ₹50,00,000 − ₹780 commission on the Bank Nifty entry + ₹10,00,000 that came with the "fill".
        assert decided.book.closed_equity == Decimal("5999220.00")


async def test_a_burst_of_rebuilds_loses_none(pool: asyncpg.Pool, config: Config) -> None:
    async with pool.acquire() as conn:
        epoch, _entry = await leader_with_an_entry(conn, config, "a")
    async with receiving(pool, config, lambda: epoch) as (receiver, sizer):
        after, decided = await entry_committed(pool, config, epoch, sizer)
        await receiver.tell(Committed(signal_row=decided.pending.id, book=after, epoch=epoch))
        # Five fills, each told as it commits, the receiver idle; after the last, three Rebuilds at once (the first
        # two find more waiting and leave the reading to the last). None may be lost: the next signal is decided
        # against the facts after the fifth fill.
        for rupees in (100, 200, 300, 400):
            await a_fill(pool, config, epoch, rupees)
            receiver.tell_nowait(Rebuild(epoch=epoch))
        await a_fill(pool, config, epoch, 500)
        for _ in range(3):
            receiver.tell_nowait(Rebuild(epoch=epoch))
        async with pool.acquire() as conn:
            facts = await load_book(conn, config)
        decided = await next_signal(pool, config, receiver, sizer, epoch)
        assert decided.book.version == facts.version == after.version + 5
        # ₹50,00,000 − ₹780 + ₹100 + ₹200 + ₹300 + ₹400 + ₹500 = ₹50,00,720.
        assert decided.book.closed_equity == Decimal("5000720.00")


async def test_a_record_counted_by_the_turn_is_in_the_book_of_the_next_signal(
    pool: asyncpg.Pool, config: Config
) -> None:
    # The order desk records a fill while the entry is in flight (its turn given up: patience 0) and tells the
    # receiver with a bare Poll, which reaches it before the entry's Committed. The Committed's book predates the
    # fill; the turn's count says so, and the next signal is decided against the facts.
    async with pool.acquire() as conn:
        epoch, _entry = await leader_with_an_entry(conn, config, "a")
    turn = BookTurn(patience_s=0.0)
    async with receiving(pool, config, lambda: epoch, turn) as (receiver, sizer):
        after, decided = await entry_committed(pool, config, epoch, sizer)
        async with turn.recording():
            version = await a_fill(pool, config, epoch, 1_000_000)
        await receiver.tell(Poll(epoch=epoch))
        await receiver.tell(Committed(signal_row=decided.pending.id, book=after, epoch=epoch))
        decided = await next_signal(pool, config, receiver, sizer, epoch)
        assert decided.book.version == version == after.version + 1
        # ₹50,00,000 − ₹780 commission on the Bank Nifty entry + ₹10,00,000 that came with the "fill".
        assert decided.book.closed_equity == Decimal("5999220.00")
