"""Every term starts from a rebuilt book: a SignalReceiver that led, lost the lead and leads again never decides on the
book it held before (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg

from basso.config import Config
from basso.enums import LedgerKind
from basso.messages import Committed, Decide, Poll
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.capital import move_capital
from basso.store.fence import take_fence
from basso.store.inbox import store_signal
from tests.pipeline_support import PROCESSED_AT, receiving
from tests.replay import commit_on_paper
from tests.store.test_outcomes import leader_with_an_entry
from tests.web.test_webhook import payload


async def test_a_receiver_that_leads_again_hands_out_a_book_rebuilt_for_the_new_term(
    pool: asyncpg.Pool, config: Config
) -> None:
    async with pool.acquire() as conn:
        first, _entry = await leader_with_an_entry(conn, config, "a")  # ₹50 L and the Bank Nifty entry pending
    epoch = [first]
    async with receiving(pool, config, lambda: epoch[0]) as (receiver, sizer):
        decided = await asyncio.wait_for(sizer.mailbox.get(), 10)  # the receiver looks as it starts
        assert isinstance(decided, Decide)
        async with pool.acquire() as conn:
            after = await commit_on_paper(
                conn, epoch=first, pending=decided.pending, book=decided.book, config=config, at=PROCESSED_AT
            )
        await receiver.tell(Committed(signal_row=decided.pending.id, book=after, epoch=first))
        # The receiver now holds the book after the entry, built in the first term. The lead passes to b, which
        # books a ₹10 L deposit, then comes back to a.
        async with pool.acquire() as conn:
            await take_fence(conn, "b", "lease acquired")
            await move_capital(
                conn,
                epoch=first + 1,
                kind=LedgerKind.DEPOSIT,
                amount=Decimal(1_000_000),
                at=PROCESSED_AT,
                note="top-up while b led",
            )
            epoch[0] = await take_fence(conn, "a", "lease acquired again")
            await store_signal(conn, signal_from_object(payload("BASE_ENTRY_GOLD_MINI"), config))
            facts = await load_book(conn, config)
        # The new term's first Poll reaches the receiver before any Rebuild does.
        await receiver.tell(Poll(epoch=epoch[0]))
        decided = await asyncio.wait_for(sizer.mailbox.get(), 10)
        assert isinstance(decided, Decide)
        assert decided.epoch == epoch[0] == first + 2
        assert decided.cause_id == decided.pending.id  # the message chain starts at the stored signal's row
        # ₹50,00,000 − ₹780 commission on the Bank Nifty entry + ₹10,00,000 deposited while b led.
        assert decided.book.closed_equity == Decimal("5999220.00") == facts.closed_equity
        assert decided.book.version == facts.version
