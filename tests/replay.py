"""Replaying stored signals through the pure rules: what the database must equal after any crash."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import orjson

from basso.brokers.paper import paper_fills
from basso.config import Config
from basso.rules.book import Book
from basso.rules.decisions import decide_payload
from basso.rules.settlement import Settlement, settle
from basso.store.book import load_book
from basso.store.outcomes import PendingSignal


def settled(pending: PendingSignal, book: Book, config: Config) -> Settlement:
    """What the pipeline makes of `pending` against `book`: its decision, paper fills and money."""
    decision = decide_payload(pending.payload, book, config)
    return settle(decision, paper_fills(decision, config), book, config)


async def replayed_book(pool: asyncpg.Pool, config: Config) -> tuple[Book, list[str], int]:
    """The book and outcomes that replaying every processed signal, in id order, from the deposits gives."""
    deposits = await pool.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'deposit'")
    book = Book(closed_equity=Decimal(deposits), high_water=Decimal(deposits), equity_peak=float(deposits))
    outcomes: list[str] = []
    fills = 0
    rows = await pool.fetch("SELECT id, key, payload, outcome FROM signals WHERE outcome NOT IN ('pending', 'dead')"
                            " AND reason NOT LIKE 'timestamp %' ORDER BY id")
    for row in rows:
        pending = PendingSignal(id=row["id"], key=row["key"], payload=orjson.loads(row["payload"]))
        settlement = settled(pending, book, config)
        book = settlement.book
        outcomes.append(settlement.decision.outcome.value)
        fills += len(settlement.fills)
    return book, outcomes, fills


async def assert_state_equals_replay(pool: asyncpg.Pool, config: Config) -> None:
    """The stored positions, ledger and outcomes are exactly what a replay of the signals gives."""
    stored = await load_book(pool, config)
    replay, outcomes, fills = await replayed_book(pool, config)
    assert stored.layers == replay.layers
    assert stored.closed_equity == replay.closed_equity
    rows = await pool.fetch("SELECT outcome FROM signals WHERE outcome NOT IN ('pending', 'dead')"
                            " AND reason NOT LIKE 'timestamp %' ORDER BY id")
    assert [r["outcome"] for r in rows] == outcomes
    # One order per fill, none repeated: the outbox holds exactly the replay's fills.
    assert await pool.fetchval("SELECT count(*) FROM orders") == fills
