"""Replaying stored signals through the pure rules: what the database must equal after any crash."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import asyncpg
import orjson

from basso.brokers.paper import paper_fills
from basso.config import Config
from basso.enums import RollState
from basso.rules.book import Book
from basso.rules.decisions import decide_payload
from basso.rules.rollover import RollFacts, decide_roll_step
from basso.rules.settlement import Settlement, settle
from basso.store.book import load_book
from basso.store.outcomes import PendingSignal


def settled(pending: PendingSignal, book: Book, config: Config) -> Settlement:
    """What the pipeline makes of `pending` against `book`: its decision, paper fills and money."""
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


# Every processed signal, in the order its outcome was committed (`applied`, sql/009). Rows a test seeded as facts
# (never applied) come first and are left out when the replay starts from the seeded book.
_PROCESSED = (
    "SELECT id, key, payload, outcome FROM signals WHERE outcome NOT IN ('pending', 'dead')"
    " AND reason NOT LIKE 'timestamp %' AND (applied IS NOT NULL OR NOT $1) ORDER BY applied NULLS FIRST, id"
)


async def replayed_book(
    pool: asyncpg.Pool, config: Config, *, seeded: Book | None = None
) -> tuple[Book, list[str], int]:
    """The book and outcomes that replaying every processed signal, in the order their outcomes were committed
    (`applied`, sql/009), from the deposits (or the `seeded` book) gives; roll steps are replayed with the same
    pure rules."""
    rolls = await stored_rolls(pool)
    deposits = await pool.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'deposit'")
    book = seeded or Book(closed_equity=Decimal(deposits), high_water=Decimal(deposits), equity_peak=float(deposits))
    outcomes: list[str] = []
    fills = 0
    rows = await pool.fetch(_PROCESSED, seeded is not None)
    for row in rows:
        pending = PendingSignal(id=row["id"], key=row["key"], payload=orjson.loads(row["payload"]))
        if pending.payload.get("type") == "ROLL":
            book, orders = rolled(pending, book, config, rolls)
            outcomes.append(row["outcome"])
            fills += orders
            continue
        settlement = settled(pending, book, config)
        book = settlement.book
        outcomes.append(settlement.decision.outcome.value)
        fills += len(settlement.fills)
    return book, outcomes, fills


async def assert_state_equals_replay(pool: asyncpg.Pool, config: Config, *, seeded: Book | None = None) -> None:
    """The stored positions, ledger and outcomes are exactly what a replay of the signals gives (from the book a
    test `seeded` as facts, if it did)."""
    stored = await load_book(pool, config)
    replay, outcomes, fills = await replayed_book(pool, config, seeded=seeded)
    assert stored.layers == replay.layers
    assert stored.closed_equity == replay.closed_equity
    rows = await pool.fetch(_PROCESSED, seeded is not None)
    assert [r["outcome"] for r in rows] == outcomes
    # One order per fill, none repeated: the outbox holds exactly the replay's fills.
    assert await pool.fetchval("SELECT count(*) FROM orders") == fills
