"""Committing a decision and then its fills: each in one fenced transaction, once, and never by a stale leader;
a fill books the money, a reject closes the layer at 0 lots, an exit cancelled part-way holds the rest again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import asyncpg
import pytest

from basso.config import Config
from basso.enums import LedgerKind, OrderStatus
from basso.rules.decisions import decide_payload
from basso.rules.orders import Working, work
from basso.rules.signals import signal_from_object
from basso.store.book import load_book
from basso.store.capital import deposit_if_empty, move_capital
from basso.store.fence import FenceLost, take_fence
from basso.store.inbox import store_signal
from basso.store.orders import NewFill, end_order, record_fill, record_fills, record_placement, working_orders
from basso.store.outcomes import (
    AlreadyProcessed,
    PendingSignal,
    StaleBook,
    Step,
    commit_decision,
    commit_decisions,
    next_pending,
)
from basso.store.types import Connection

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
ENTRY = {
    "type": "BASE_ENTRY",
    "instrument": "BANK_NIFTY",
    "position": "Long_1",
    "price": 52000,
    "stop": 51650,
    "lots": 5,
    "atr": 350,
    "er": 0.82,
    "supertrend": 51650,
    "timestamp": "2026-11-25T10:30:00",
}
EXIT = {
    "type": "EXIT",
    "instrument": "BANK_NIFTY",
    "position": "Long_1",
    "price": 52400,
    "reason": "trend over",
    "timestamp": "2026-11-25T11:30:00",
}


async def leader_with_an_entry(conn: Connection, config: Config, holder: str) -> tuple[int, PendingSignal]:
    """Take the fence as `holder`, deposit ₹50 L and store the Bank Nifty base entry: the epoch and the entry."""
    epoch = await take_fence(conn, holder, "startup")
    await deposit_if_empty(conn, epoch=epoch, amount=Decimal(5_000_000), at=AT)
    await store_signal(conn, signal_from_object(ENTRY, config))
    pending = await next_pending(conn)
    assert pending is not None
    return epoch, pending


async def decided(conn: asyncpg.Connection, pending: PendingSignal, config: Config) -> Working:
    """`pending` decided against the stored facts, as working orders."""
    book = await load_book(conn, config)
    return work(decide_payload(pending.payload, book, config), book, config, key=pending.key, signal=pending.id)


async def an_entry_committed(conn: asyncpg.Connection, config: Config, holder: str, broker: str) -> tuple[int, str]:
    """`holder` leads, and its Bank Nifty base entry is decided and committed with its order at `broker`: the
    epoch and the order's client id."""
    epoch, pending = await leader_with_an_entry(conn, config, holder)
    working = await decided(conn, pending, config)
    await commit_decision(conn, epoch=epoch, signal=pending, working=working, at=AT, broker=broker)
    return epoch, working.tickets[0].client_id


async def an_entry_then_its_exit(conn: Connection, config: Config) -> tuple[int, PendingSignal, PendingSignal]:
    """A leader with the Bank Nifty base entry stored, then the exit of its layer: the epoch and both signals."""
    epoch, entry = await leader_with_an_entry(conn, config, "solo")
    await store_signal(conn, signal_from_object(EXIT, config))
    exit_ = await next_pending(conn, after=entry.id)
    assert exit_ is not None
    return epoch, entry, exit_


async def test_a_decision_commits_working_orders_once_and_never_under_a_stale_fence(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        old, pending = await leader_with_an_entry(conn, config, "old")
        working = await decided(conn, pending, config)
        new = await take_fence(conn, "new", "takeover")
        with pytest.raises(FenceLost):
            await commit_decision(conn, epoch=old, signal=pending, working=working, at=AT, broker="paper")
        assert await conn.fetchval("SELECT outcome FROM signals") == "pending"
        assert await conn.fetchval("SELECT count(*) FROM positions") == 0
        await commit_decision(conn, epoch=new, signal=pending, working=working, at=AT, broker="paper")
        with pytest.raises(AlreadyProcessed):
            await commit_decision(conn, epoch=new, signal=pending, working=working, at=AT, broker="paper")
        # ₹50 L: Lot-R = 50,00,000 × 0.5 % ÷ (350 × 30) × 0.82 = 1.95 ⇒ 1 lot, working: the layer `opening` at
        # the intended 52,000 and stop 51,650, its order `pending`, and no money moved yet.
        position = await conn.fetchrow("SELECT layer, lots, entry_price, current_stop, status FROM positions")
        assert position is not None
        assert tuple(position) == (1, 1, Decimal("52000.0000"), Decimal("51650.0000"), "opening")
        order = await conn.fetchrow("SELECT client_id, side, lots, price, status FROM orders")
        assert order is not None
        assert tuple(order) == (f"{pending.key}:0:BUY:BANK_NIFTY:L1", "BUY", 1, Decimal("52000.0000"), "pending")
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("5000000.00")
        assert await conn.fetchval("SELECT outcome FROM signals") == "executed"
        # The book read back counts the working order exactly as the book in memory does.
        assert (await load_book(conn, config)).layers == working.book.layers
        assert [w.ticket for w in await working_orders(conn)] == list(working.tickets)
    finally:
        await conn.close()


async def test_a_placement_is_recorded_only_under_the_fence_and_only_while_the_order_works(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        old, client = await an_entry_committed(conn, config, "old", "openalgo")
        placed = partial(record_placement, conn, client_id=client, broker_order_id="25123000000001", reason="", at=AT)
        assert await placed(epoch=old, status=OrderStatus.SENT) == "ok"
        new = await take_fence(conn, "new", "takeover")
        with pytest.raises(FenceLost) as lost:
            await placed(epoch=old, status=OrderStatus.UNKNOWN, checks=1)
        assert (lost.value.ours, lost.value.stored) == (old, new)
        order = await conn.fetchrow("SELECT status, checks, epoch FROM orders")
        assert order is not None
        assert tuple(order) == ("sent", 0, old)  # nothing written by the old leader
        await end_order(conn, epoch=new, client_id=client, status=OrderStatus.REJECTED, reason="no margin", at=AT)
        assert await placed(epoch=new, status=OrderStatus.SENT) == "done"  # untouched
        assert await conn.fetchval("SELECT status FROM orders") == "rejected"
    finally:
        await conn.close()


async def test_an_entrys_first_placement_is_not_recorded_once_its_layer_is_closing(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, entry, exit_ = await an_entry_then_its_exit(conn, config)
        entered = await decided(conn, entry, config)
        await commit_decision(conn, epoch=epoch, signal=entry, working=entered, at=AT, broker="openalgo")
        client = entered.tickets[0].client_id
        placed = partial(record_placement, conn, epoch=epoch, client_id=client, broker_order_id=None, reason="", at=AT)
        # Still opening: the entry may go.
        assert await placed(status=OrderStatus.SENT, unless_closing=True) == "ok"
        await conn.execute("UPDATE orders SET status = 'pending'")  # as it was: not sent yet
        # The exit committed meanwhile (decided against the book counting the entry working): the entry is not sent.
        exited = await decided(conn, exit_, config)
        await commit_decision(conn, epoch=epoch, signal=exit_, working=exited, at=AT, broker="openalgo")
        assert await placed(status=OrderStatus.SENT, unless_closing=True) == "closing"
        assert await conn.fetchval("SELECT status FROM orders WHERE client_id = $1", client) == "pending"
        # A later step of an order already sent is recorded whatever the layer (its chase withdraws it itself).
        assert await placed(status=OrderStatus.SENT) == "ok"
    finally:
        await conn.close()


async def test_a_fill_books_the_actual_price_and_commission_once(migrated_database: str, config: Config) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, client = await an_entry_committed(conn, config, "solo", "paper")
        assert await record_placement(
            conn,
            epoch=epoch,
            client_id=client,
            status=OrderStatus.SENT,
            broker_order_id="25123000000001",
            reason="",
            at=AT,
        )
        # Filled at 52,010 (not the 52,000 intended); commission 52,010 × 30 × 0.05 % = ₹780.15.
        version = await record_fill(
            conn, epoch=epoch, client_id=client, lots=1, price=52010.0, commission=Decimal("780.15"), at=AT
        )
        assert version == await conn.fetchval("SELECT book_version FROM controls")
        assert (
            await record_fill(
                conn, epoch=epoch, client_id=client, lots=1, price=52010.0, commission=Decimal("780.15"), at=AT
            )
            is None
        )  # reported twice: booked once
        position = await conn.fetchrow("SELECT lots, entry_price, highest_close, status FROM positions")
        assert position is not None
        assert tuple(position) == (1, Decimal("52010.0000"), Decimal("52010.0000"), "open")
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("4999219.85")
        order = await conn.fetchrow("SELECT status, filled_lots, fill_price, broker_order_id FROM orders")
        assert order is not None
        assert tuple(order) == ("filled", 1, Decimal("52010.0000"), "25123000000001")
        assert await working_orders(conn) == []
    finally:
        await conn.close()


async def test_a_rejected_entry_closes_its_layer_at_zero_lots_and_the_signal_fails_with_the_reason(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, client = await an_entry_committed(conn, config, "solo", "openalgo")
        assert (
            await end_order(
                conn, epoch=epoch, client_id=client, status=OrderStatus.REJECTED, reason="RMS: margin exceeds", at=AT
            )
            is not None
        )
        position = await conn.fetchrow("SELECT lots, status, exit_reason FROM positions")
        assert position is not None
        assert tuple(position) == (0, "closed", "entry not filled: RMS: margin exceeds")
        signal = await conn.fetchrow("SELECT outcome, reason FROM signals")
        assert signal is not None
        assert tuple(signal) == ("failed", "broker: RMS: margin exceeds")
        assert (await load_book(conn, config)).layers == ()
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("5000000.00")  # nothing booked
    finally:
        await conn.close()


async def test_an_exit_cancelled_part_way_books_what_sold_and_holds_the_rest_again(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch = await take_fence(conn, "solo", "startup")
        await deposit_if_empty(conn, epoch=epoch, amount=Decimal(10_000_000), at=AT)  # ₹1 Cr: 3 lots
        await store_signal(conn, signal_from_object(ENTRY, config))
        entry = await next_pending(conn)
        assert entry is not None
        working = await decided(conn, entry, config)
        await commit_decision(conn, epoch=epoch, signal=entry, working=working, at=AT, broker="openalgo")
        # Lot-R = 1,00,00,000 × 0.5 % ÷ 10,500 × 0.82 = 3.90 ⇒ 3 lots; filled in two parts, 2 at 52,000 and 1
        # at 52,030: the average 52,010 becomes the entry.
        buy = working.tickets[0].client_id
        await record_fill(conn, epoch=epoch, client_id=buy, lots=2, price=52000.0, commission=Decimal(0), at=AT)
        assert await conn.fetchval("SELECT status FROM positions") == "partial"
        await record_fill(conn, epoch=epoch, client_id=buy, lots=1, price=52030.0, commission=Decimal(0), at=AT)
        assert await conn.fetchval("SELECT (lots, entry_price, status)::text FROM positions") == "(3,52010.0000,open)"

        await store_signal(conn, signal_from_object(EXIT, config))
        exit_ = await next_pending(conn)
        assert exit_ is not None
        working = await decided(conn, exit_, config)
        await commit_decision(conn, epoch=epoch, signal=exit_, working=working, at=AT, broker="openalgo")
        assert (await load_book(conn, config)).layers == ()  # the exiting layer counts no more
        sell = working.tickets[0].client_id
        # 2 of 3 lots sold at 52,410, then the rest cancelled: (52,410 − 52,010) × 2 × 30 = ₹24,000 realised, and
        # the unsold lot is held again at its entry.
        await record_fill(conn, epoch=epoch, client_id=sell, lots=2, price=52410.0, commission=Decimal(0), at=AT)
        await end_order(conn, epoch=epoch, client_id=sell, status=OrderStatus.CANCELLED, reason="cancelled", at=AT)
        rows = await conn.fetch("SELECT lots, status, exit_price, realised_pnl FROM positions ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (2, "closed", Decimal("52410.0000"), Decimal("24000.00")),
            (1, "open", None, None),
        ]
        assert await conn.fetchval(
            "SELECT sum(amount) FROM ledger WHERE kind = $1", LedgerKind.REALISED_PNL.value
        ) == Decimal("24000.00")
        [layer] = (await load_book(conn, config)).layers
        assert (layer.lots, layer.entry_price) == (1, 52010.0)
    finally:
        await conn.close()


async def test_a_decision_made_against_a_stale_book_is_refused_and_writes_nothing(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, pending = await leader_with_an_entry(conn, config, "solo")
        stale = await decided(conn, pending, config)
        # The facts change after the book was read: ₹10 L more capital would size the entry differently.
        await move_capital(conn, epoch=epoch, kind=LedgerKind.DEPOSIT, amount=Decimal(1_000_000), at=AT, note="top-up")
        with pytest.raises(StaleBook, match="version 1, the facts are at version 2"):
            await commit_decision(conn, epoch=epoch, signal=pending, working=stale, at=AT, broker="paper")
        assert await conn.fetchval("SELECT outcome FROM signals") == "pending"
        assert await conn.fetchval("SELECT count(*) FROM positions") == 0
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("6000000.00")
        # Decided again against the facts, it commits: equity ₹60 L gives Lot-R = 60,00,000 × 0.5 % ÷ (350 × 30)
        # × 0.82 = 2.34 ⇒ 2 lots (Lot-V = 30,000 ÷ 10,500 = 2.86).
        working = await decided(conn, pending, config)
        assert working.decision.record["lots"] == 2
        await commit_decision(conn, epoch=epoch, signal=pending, working=working, at=AT, broker="paper")
        assert await conn.fetchval("SELECT book_version FROM controls") == 3
    finally:
        await conn.close()


async def test_a_batch_commits_every_decision_in_order_or_none_of_them(migrated_database: str, config: Config) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, entry, exit_ = await an_entry_then_its_exit(conn, config)
        entered = await decided(conn, entry, config)
        # The exit decided against the book the entry leaves (its layer opening, its order working): the batch.
        book = entered.book
        exited = work(decide_payload(exit_.payload, book, config), book, config, key=exit_.key, signal=exit_.id)
        batch = [Step(signal=entry, working=entered, contracts={}), Step(signal=exit_, working=exited, contracts={})]
        # A second exit decided against the book before the entry: stale as the batch's second step. Nothing of
        # the batch is written, not even the entry that was right.
        wrong = await decided(conn, exit_, config)
        with pytest.raises(StaleBook, match=f"signal {exit_.id} was decided against book version 1, the facts are"):
            await commit_decisions(
                conn, epoch=epoch, steps=[batch[0], Step(signal=exit_, working=wrong, contracts={})], at=AT, broker="x"
            )
        assert [r["outcome"] for r in await conn.fetch("SELECT outcome FROM signals ORDER BY id")] == ["pending"] * 2
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
        assert await conn.fetchval("SELECT book_version FROM controls") == 1
        await commit_decisions(conn, epoch=epoch, steps=batch, at=AT, broker="openalgo")
        # Both in order: the entry's layer opened and, by the exit, closing at once; its BUY and the SELL working.
        assert [r["outcome"] for r in await conn.fetch("SELECT outcome FROM signals ORDER BY id")] == ["executed"] * 2
        assert await conn.fetchval("SELECT status FROM positions") == "closing"
        sides = await conn.fetch("SELECT side, status, broker FROM orders ORDER BY id")
        assert [tuple(o) for o in sides] == [("BUY", "pending", "openalgo"), ("SELL", "pending", "openalgo")]
        assert await conn.fetchval("SELECT book_version FROM controls") == 3
        with pytest.raises(AlreadyProcessed, match=f"signal {entry.id} already"):
            await commit_decisions(conn, epoch=epoch, steps=batch, at=AT, broker="openalgo")
    finally:
        await conn.close()


async def test_a_fill_written_against_an_order_that_changed_since_it_was_read_writes_nothing(
    migrated_database: str, config: Config
) -> None:
    conn = await asyncpg.connect(migrated_database)
    other = await asyncpg.connect(migrated_database)
    try:
        epoch = await take_fence(conn, "solo", "startup")
        await deposit_if_empty(conn, epoch=epoch, amount=Decimal(10_000_000), at=AT)  # ₹1 Cr: 3 lots (above)
        await store_signal(conn, signal_from_object(ENTRY, config))
        entry = await next_pending(conn)
        assert entry is not None
        working = await decided(conn, entry, config)
        await commit_decision(conn, epoch=epoch, signal=entry, working=working, at=AT, broker="openalgo")
        order_id = await conn.fetchval("SELECT id FROM orders")
        version = await conn.fetchval("SELECT book_version FROM controls")

        async def write(*, epoch: int, before: int, entry: str) -> str:
            result: str = await conn.fetchval(
                "SELECT basso_record_fill($1, $2, $3, $4, $5, 1, 52000, 0, NULL, 'partial', $6, 52000, NULL,"
                " '[]'::jsonb, NULL)",
                epoch,
                order_id,
                before,
                Decimal(entry),
                AT,
                before + 1,
            )
            return result

        # Read as 1 lot filled, but none is: another write happened since. Nothing is written.
        assert await write(epoch=epoch, before=1, entry="52000") == "moved"
        # The layer's entry read at another price than it holds: likewise.
        assert await write(epoch=epoch, before=0, entry="51000") == "moved"
        # A newer leader's epoch: the fence says so, and nothing is written.
        assert await write(epoch=epoch + 1, before=0, entry="52000") == f"fence {epoch}"
        assert await conn.fetchval("SELECT count(*) FROM fills") == 0
        assert await conn.fetchval("SELECT book_version FROM controls") == version
        # Two fills of the same order recorded at once, on two connections: one writes, the other finds the order
        # moved, reads it again and writes on top. 1 lot at 52,000 and 2 at 52,030: the average 52,020.
        buy = working.tickets[0].client_id
        await asyncio.gather(
            record_fill(conn, epoch=epoch, client_id=buy, lots=1, price=52000.0, commission=Decimal(0), at=AT),
            record_fill(other, epoch=epoch, client_id=buy, lots=2, price=52030.0, commission=Decimal(0), at=AT),
        )
        assert await conn.fetchval("SELECT count(*) FROM fills") == 2
        order = await conn.fetchrow("SELECT status, filled_lots, fill_price FROM orders")
        assert order is not None
        assert tuple(order) == ("filled", 3, Decimal("52020.0000"))
        assert await conn.fetchval("SELECT (lots, entry_price, status)::text FROM positions") == "(3,52020.0000,open)"
        assert await conn.fetchval("SELECT book_version FROM controls") == version + 2
    finally:
        await other.close()
        await conn.close()


async def test_fills_recorded_together_book_each_as_if_recorded_alone(migrated_database: str, config: Config) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        old_epoch = await take_fence(conn, "solo", "startup")
        await deposit_if_empty(conn, epoch=old_epoch, amount=Decimal(10_000_000), at=AT)  # ₹1 Cr
        orders: list[tuple[int, str, int]] = []  # signal, client id, lots
        # Bank Nifty: 3 lots (above). Gold Mini at 78,500, stop 77,100, ATR 1,400: Lot-V = 1,00,00,000 × 0.2 % ÷
        # (1,400 × ₹10) = 1.43 ⇒ 1 lot (Lot-R = 1,00,00,000 × 0.5 % × 0.85 ÷ 14,000 = 3.04).
        gold = {**ENTRY, "instrument": "GOLD_MINI", "price": 78500, "stop": 77100, "atr": 1400, "er": 0.85}
        for payload in (ENTRY, gold):
            await store_signal(conn, signal_from_object(payload, config))
            pending = await next_pending(conn, after=orders[-1][0] if orders else 0)
            assert pending is not None
            working = await decided(conn, pending, config)
            await commit_decision(conn, epoch=old_epoch, signal=pending, working=working, at=AT, broker="openalgo")
            orders.append((pending.id, working.tickets[0].client_id, working.tickets[0].lots))
        (_, bank_nifty, bn_lots), (_, gold_mini, gold_lots) = orders
        assert (bn_lots, gold_lots) == (3, 1)
        version = await conn.fetchval("SELECT book_version FROM controls")
        fills = [
            NewFill(client_id=bank_nifty, lots=2, price=52000.0, commission=Decimal(0), at=AT),
            # 78,510 × 1 lot × ₹10 × 0.05 % = ₹392.55
            NewFill(client_id=gold_mini, lots=1, price=78510.0, commission=Decimal("392.55"), at=AT),
            # the same order again, in the same call: recorded after the first, on top of it
            NewFill(client_id=bank_nifty, lots=1, price=52030.0, commission=Decimal(0), at=AT),
        ]

        # A newer leader has taken the fence: nothing of the batch is written.
        epoch = await take_fence(conn, "successor", "takeover")
        with pytest.raises(FenceLost):
            await record_fills(conn, epoch=old_epoch, fills=fills)
        assert await conn.fetchval("SELECT count(*) FROM fills") == 0
        assert await conn.fetchval("SELECT book_version FROM controls") == version

        assert await record_fills(conn, epoch=epoch, fills=fills) == [version + 1, version + 2, version + 3]
        # Bank Nifty: 2 at 52,000 and 1 at 52,030, the average 52,010 the entry; Gold Mini at its fill.
        rows = await conn.fetch("SELECT instrument, lots, entry_price, status FROM positions ORDER BY id")
        assert [tuple(r) for r in rows] == [
            ("BANK_NIFTY", 3, Decimal("52010.0000"), "open"),
            ("GOLD_MINI", 1, Decimal("78510.0000"), "open"),
        ]
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("9999607.45")
        # Reported again: booked once.
        assert await record_fills(conn, epoch=epoch, fills=fills) == [None, None, None]
        assert await conn.fetchval("SELECT count(*) FROM fills") == 3
        assert await conn.fetchval("SELECT book_version FROM controls") == version + 3
    finally:
        await conn.close()
