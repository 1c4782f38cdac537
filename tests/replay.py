"""Replaying stored signals and fills through the pure rules: what the database must equal after any crash.

Orders take two steps, so the facts move on by two kinds of event: a signal's decision (its layers and orders
committed working) and a fill. Each commit records the facts' version it produced, which is the order they
happened in; the replay applies them in that order — every decision made against the book the events before
it give, every fill checked against what the paper broker gives for its order, every roll step through the
same pure rules from the roll's stored quotes — and must arrive at the very positions, ledger and outcomes
stored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from basso.brokers.paper import paper_fill, paper_fills
from basso.config import Config
from basso.enums import RollState, SignalOutcome
from basso.rules.book import Book, Fill
from basso.rules.decisions import decide_payload
from basso.rules.layers import Layer
from basso.rules.orders import OrderTicket, fill_book, fill_ledger, work
from basso.rules.rollover import RollFacts, decide_roll_step
from basso.rules.settlement import Settlement, settle
from basso.store.book import load_book
from basso.store.orders import AfterFills, record_fill
from basso.store.outcomes import PendingSignal, commit_decision
from basso.store.types import Connection


def settled(pending: PendingSignal, book: Book, config: Config) -> Settlement:
    """What the backtest's fast path makes of `pending` against `book`: its decision, paper fills and money."""
    decision = decide_payload(pending.payload, book, config)
    return settle(decision, paper_fills(decision, config), book, config)


def rolled(pending: PendingSignal, book: Book, config: Config, rolls: dict[int, RollFacts]) -> tuple[Book, int]:
    """A roll step replayed through the same pure rules (`decide_roll_step`) from the roll's stored quotes, its
    counters kept here step by step: the book after it and the orders it made."""
    roll_id = int(pending.payload["roll"])
    result = decide_roll_step(rolls[roll_id], book, config, strikes={})
    if result is None:
        return replace(book, version=book.version + 1), 0
    rolls[roll_id] = replace(
        rolls[roll_id], state=result.transitions[-1][1], closed_lots=result.closed_lots, opened_lots=result.opened_lots
    )
    return result.outcome.book, len(result.outcome.orders)


async def stored_rolls(pool: asyncpg.Pool) -> dict[int, RollFacts]:
    """Every stored roll as it started (pending, nothing closed or opened), by id."""
    return {
        r["id"]: RollFacts(
            instrument=r["instrument"],
            state=RollState.PENDING,
            closed_lots=0,
            opened_lots=0,
            old_expiry=r["old_expiry"],
            new_expiry=r["new_expiry"],
            old_price=float(r["old_price"]),
            new_price=float(r["new_price"]),
            new_strike=r["new_strike"],
        )
        for r in await pool.fetch("SELECT * FROM rolls")
    }


async def commit_on_paper(
    conn: Connection, *, epoch: int, pending: PendingSignal, book: Book, config: Config, at: datetime
) -> Book:
    """What the pipeline does with `pending` on the paper broker, step by step: decide it against `book`, commit
    the decision, then record the paper broker's fill of each order (the last one with the day's peak and the
    band's alert, as the Persister records it). The book after it."""
    working = work(decide_payload(pending.payload, book, config), book, config, key=pending.key, signal=pending.id)
    await commit_decision(conn, epoch=epoch, signal=pending, working=working, at=at, broker="paper")
    fills = [(ticket, paper_fill(ticket, config)) for ticket in working.tickets]
    if not fills:
        return working.book
    filling = fill_book(
        working.book,
        fills,
        config,
        version=working.book.version + len(fills),
        drawdown_before=working.drawdown_before,
    )
    after = AfterFills.of(filling)
    for n, (ticket, fill) in enumerate(fills):
        await record_fill(
            conn,
            epoch=epoch,
            client_id=ticket.client_id,
            lots=fill.lots,
            price=fill.price,
            commission=fill.commission,
            at=at,
            after=after if n == len(fills) - 1 else None,
        )
    return filling.book


_PROCESSED = "outcome NOT IN ('pending', 'dead') AND reason NOT LIKE 'timestamp %'"


async def _events(pool: asyncpg.Pool, *, seeded: bool) -> list[tuple[int, str, Any]]:
    # Rows a test seeded as facts (never committed through the pipeline: no version) are left out when the replay
    # starts from the seeded book.
    signals = await pool.fetch(
        f"SELECT id, key, payload, book_version, outcome FROM signals WHERE {_PROCESSED}"
        " AND (book_version IS NOT NULL OR NOT $1)",
        seeded,
    )
    assert all(r["book_version"] is not None for r in signals), "every decided signal records its version"
    fills = await pool.fetch(
        "SELECT f.book_version, o.client_id, o.signal, f.lots, f.price, f.commission"
        " FROM fills f JOIN orders o ON o.id = f.order_id"
    )
    # An end books no money, except a synthetic entry's put sold and bought back (basso/actors/order_desk.py).
    ends = await pool.fetch(
        "SELECT o.ended_version, o.client_id, o.filled_lots, (SELECT coalesce(sum(l.amount), 0) FROM ledger l"
        " WHERE l.position = o.position AND l.kind = 'realised_pnl') AS booked"
        " FROM orders o WHERE o.ended_version IS NOT NULL"
    )
    events: list[tuple[int, str, Any]] = [(r["book_version"], "signal", r) for r in signals]
    events += [(r["book_version"], "fill", r) for r in fills]
    events += [(r["ended_version"], "end", r) for r in ends]
    versions = [v for v, _, _ in events]
    assert len(set(versions)) == len(versions), "no two commits produced the same version"
    return sorted(events, key=lambda e: e[0])


def _unfilled(book: Book, ticket: OrderTicket, config: Config) -> Book:
    """`book` once `ticket` ended with nothing filled: an entry's layer is gone, an exit's lots are held again."""
    layers = [x for x in book.layers if (x.instrument, x.layer) != (ticket.instrument, ticket.layer)]
    if not ticket.opening:
        held = book.layer(ticket.instrument, ticket.layer)
        layers.append(
            held.with_lots(held.lots + ticket.lots)
            if held is not None
            else Layer(
                instrument=ticket.instrument,
                layer=ticket.layer,
                lots=ticket.lots,
                entry_price=ticket.entry_price,
                initial_stop=ticket.stop,
                stop=ticket.stop,
                highest_close=ticket.entry_price,
                point_value=ticket.point_value,
            )
        )
    return replace(book.with_layers(layers), version=book.version + 1)


async def replayed_book(
    pool: asyncpg.Pool, config: Config, *, paper: bool = True, seeded: Book | None = None
) -> tuple[Book, list[str], int]:
    """The book, outcomes (in signal id order) and number of orders that replaying every decision, fill and roll
    step, in the order they were committed, from the deposits (or the book a test `seeded` as facts) gives. With
    `paper`, each stored fill must be the paper broker's for its order; otherwise the stored fills (a real
    broker's) are replayed as they are."""
    rolls = await stored_rolls(pool)
    deposits = await pool.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'deposit'")
    book = seeded or Book(closed_equity=Decimal(deposits), high_water=Decimal(deposits), equity_peak=float(deposits))
    outcomes: dict[int, str] = {}
    tickets: dict[str, OrderTicket] = {}
    drawdown_before: dict[int, float] = {}  # by signal: what its fills' band alert compares with
    roll_orders = 0
    batch: list[tuple[OrderTicket, Fill]] = []  # consecutive fills of one signal: recorded from one broker reply

    def flush() -> None:
        nonlocal book
        if batch:
            before = drawdown_before[batch[0][0].signal]
            # An entry can fill after its layer's exit was decided: a SignalReceiver restarted meanwhile hands out
            # the next signal while the entry's paper fill is still on its way. The exit sells what the entry buys,
            # at the same price; the entry's fill only books its money, its layer being gone from the book.
            held: list[tuple[OrderTicket, Fill]] = []
            late: list[tuple[OrderTicket, Fill]] = []
            for ticket, fill in batch:
                gone = ticket.opening and book.layer(ticket.instrument, ticket.layer) is None
                (late if gone else held).append((ticket, fill))
            if late:
                cash = sum((row.amount for t, f in late for row in fill_ledger(t, f)), Decimal(0))
                closed = book.closed_equity + cash
                book = replace(
                    book,
                    closed_equity=closed,
                    high_water=max(book.high_water, closed),
                    version=book.version + len(late),
                )
            if held:
                book = fill_book(book, held, config, version=book.version + len(held), drawdown_before=before).book
            batch.clear()

    for _version, kind, row in await _events(pool, seeded=seeded is not None):
        if kind == "signal":
            flush()
            pending = PendingSignal(id=row["id"], key=row["key"], payload=orjson.loads(row["payload"]))
            if pending.payload.get("type") == "ROLL":
                book, orders = rolled(pending, book, config, rolls)
                roll_orders += orders
                outcomes[pending.id] = row["outcome"]
                continue
            decision = decide_payload(pending.payload, book, config)
            if decision.entries and row["outcome"] == "blocked":
                # The RiskGuard's last word (a reconciliation break, an unknown order, an expired contract): facts
                # the rules cannot know; the entry was blocked and nothing else changed.
                decision = replace(decision, outcome=SignalOutcome.BLOCKED, entries=())
            working = work(decision, book, config, key=pending.key, signal=pending.id)
            book = working.book
            tickets |= {t.client_id: t for t in working.tickets}
            drawdown_before[pending.id] = working.drawdown_before
            outcomes[pending.id] = decision.outcome.value
            continue
        ticket = tickets[row["client_id"]]
        if kind == "end":  # a reject or cancel of an order nothing of which filled
            flush()
            assert row["filled_lots"] == 0, "the replay knows unfilled ends only"
            book = _unfilled(book, ticket, config)
            if row["booked"]:
                closed = book.closed_equity + row["booked"]
                book = replace(book, closed_equity=closed, high_water=max(book.high_water, closed))
            if ticket.opening and outcomes[ticket.signal] == "executed":
                outcomes[ticket.signal] = "failed"
            continue
        if batch and batch[-1][0].signal != ticket.signal:
            flush()
        if paper:
            fill = paper_fill(ticket, config)
            # The stored fill is the paper broker's for that very order: its price, lots and commission.
            expected = (fill.lots, Decimal(repr(fill.price)).quantize(Decimal("0.0001")), fill.commission)
            assert (row["lots"], row["price"], row["commission"]) == expected, (row["client_id"], fill)
        else:
            fill = Fill(
                instrument=ticket.instrument,
                layer=ticket.layer,
                lots=row["lots"],
                price=float(row["price"]),
                commission=row["commission"],
                opening=ticket.opening,
            )
        batch.append((ticket, fill))
    flush()
    return book, [outcomes[k] for k in sorted(outcomes)], len(tickets) + roll_orders


async def assert_state_equals_replay(
    pool: asyncpg.Pool, config: Config, *, paper: bool = True, seeded: Book | None = None
) -> None:
    """The stored positions, ledger and outcomes are exactly what a replay of the signals, fills and roll steps
    gives (from the book a test `seeded` as facts, if it did)."""
    stored = await load_book(pool, config)
    replay, outcomes, orders = await replayed_book(pool, config, paper=paper, seeded=seeded)
    assert stored.layers == replay.layers
    assert stored.closed_equity == replay.closed_equity
    rows = await pool.fetch(
        f"SELECT outcome FROM signals WHERE {_PROCESSED} AND (book_version IS NOT NULL OR NOT $1) ORDER BY id",
        seeded is not None,
    )
    assert [r["outcome"] for r in rows] == outcomes
    # One order per ticket or roll leg, none repeated: the outbox holds exactly the replay's orders.
    assert await pool.fetchval("SELECT count(*) FROM orders") == orders
