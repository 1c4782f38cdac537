"""The roll state machine's facts (sql/009): rolls, their transitions, and each step's fenced commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from basso.enums import RollState
from basso.rules.alert import Alert
from basso.rules.rollover import RollOrderFact
from basso.store.drawdown import raise_alerts
from basso.store.fence import FenceLost
from basso.store.outcomes import AlreadyProcessed, PendingSignal, StaleBook
from basso.store.types import Connection, Executor

__all__ = [
    "HeldContract",
    "NewRoll",
    "Roll",
    "active_roll",
    "commit_roll_step",
    "held_contracts",
    "load_roll",
    "resume_roll",
    "roll_orders",
    "roll_transitions",
    "start_roll",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldContract:
    """One open layer's contract: what a roll closes."""

    instrument: str
    layer: int
    contract: str
    expiry: date | None
    strike: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRoll:
    """A roll about to start: the contracts, the quotes it fills at, and why."""

    instrument: str
    old_contract: str
    old_expiry: date
    new_contract: str
    new_expiry: date
    new_strike: int | None
    old_price: Decimal
    new_price: Decimal
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Roll:
    """A stored roll."""

    id: int
    instrument: str
    state: RollState
    old_contract: str
    old_expiry: date
    new_contract: str
    new_expiry: date
    new_strike: int | None
    old_price: Decimal
    new_price: Decimal
    closed_lots: int
    opened_lots: int
    reason: str


_ROLL_COLUMNS = (
    "id, instrument, state, old_contract, old_expiry, new_contract, new_expiry, new_strike, old_price,"
    " new_price, closed_lots, opened_lots, reason"
)


def _roll(row: asyncpg.Record) -> Roll:
    return Roll(
        id=row["id"],
        instrument=row["instrument"],
        state=RollState(row["state"]),
        old_contract=row["old_contract"],
        old_expiry=row["old_expiry"],
        new_contract=row["new_contract"],
        new_expiry=row["new_expiry"],
        new_strike=row["new_strike"],
        old_price=row["old_price"],
        new_price=row["new_price"],
        closed_lots=row["closed_lots"],
        opened_lots=row["opened_lots"],
        reason=row["reason"],
    )


async def held_contracts(db: Executor) -> list[HeldContract]:
    """Every open layer's contract, by instrument and layer."""
    rows = await db.fetch(
        "SELECT instrument, layer, contract, expiry, strike FROM positions WHERE status <> 'closed'"
        " ORDER BY instrument, layer"
    )
    return [
        HeldContract(
            instrument=r["instrument"], layer=r["layer"], contract=r["contract"], expiry=r["expiry"], strike=r["strike"]
        )
        for r in rows
    ]


async def load_roll(db: Executor, roll_id: int) -> Roll | None:
    """One roll by id."""
    row = await db.fetchrow(f"SELECT {_ROLL_COLUMNS} FROM rolls WHERE id = $1", roll_id)
    return None if row is None else _roll(row)


async def active_roll(db: Executor, instrument: str) -> Roll | None:
    """The instrument's roll under way (neither done nor failed), if any."""
    row = await db.fetchrow(
        f"SELECT {_ROLL_COLUMNS} FROM rolls WHERE instrument = $1 AND state NOT IN ('done', 'failed')", instrument
    )
    return None if row is None else _roll(row)


async def roll_transitions(db: Executor, roll_id: int) -> list[tuple[str | None, str, str]]:
    """A roll's transitions in order: (from, to, reason)."""
    rows = await db.fetch(
        "SELECT from_state, to_state, reason FROM roll_transitions WHERE roll = $1 ORDER BY id", roll_id
    )
    return [(r["from_state"], r["to_state"], r["reason"]) for r in rows]


def step_key(roll_id: int, step: int) -> str:
    """The idempotency key of a roll's `step`-th step signal."""
    return f"roll:{roll_id}:{step}"


def step_payload(roll: int, instrument: str, step: int) -> dict[str, Any]:
    """The stored payload of a roll step: the SignalReceiver hands it to the RolloverScanner."""
    return {"type": "ROLL", "instrument": instrument, "roll": roll, "step": step}


async def start_roll(conn: Connection, *, epoch: int, at: datetime, roll: NewRoll) -> int | None:
    """Store a new roll (`pending`, with its reason) and its first step signal, in one transaction fenced by
    `epoch`; the roll's id, or None when the instrument already has a roll under way (then, if that roll has no
    step pending, its next step is stored: a retry). FenceLost if a newer leader holds the fence (nothing
    written)."""
    async with conn.transaction():
        stored = await conn.fetchval("SELECT epoch FROM leader_fence WHERE id = 1 FOR SHARE")
        if stored != epoch:
            raise FenceLost(epoch, stored)
        roll_id: int | None = await conn.fetchval(
            "INSERT INTO rolls (instrument, state, old_contract, old_expiry, new_contract, new_expiry, new_strike,"
            " old_price, new_price, reason, started_at, updated_at)"
            " VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
            " ON CONFLICT (instrument) WHERE state NOT IN ('done', 'failed') DO NOTHING RETURNING id",
            roll.instrument,
            roll.old_contract,
            roll.old_expiry,
            roll.new_contract,
            roll.new_expiry,
            roll.new_strike,
            roll.old_price,
            roll.new_price,
            roll.reason,
            at,
        )
        if roll_id is None:
            await _resume(conn, roll.instrument, at)
            return None
        await conn.execute(
            "INSERT INTO roll_transitions (roll, at, from_state, to_state, reason)"
            " VALUES ($1, $2, NULL, 'pending', $3)",
            roll_id,
            at,
            roll.reason,
        )
        await conn.execute(
            "INSERT INTO signals (key, kind, instrument, signal_time, payload) VALUES ($1, 'ROLL', $2, $3, $4::jsonb)",
            step_key(roll_id, 1),
            roll.instrument,
            at,
            orjson.dumps(step_payload(roll_id, roll.instrument, 1)).decode(),
        )
        return roll_id


async def _resume(conn: Connection, instrument: str, at: datetime) -> None:
    """The instrument's roll under way has no step pending (its last one was a dead letter, or its orders at the
    broker are all done now) and no order working: store the next one, so a roll goes on, and is retried at each
    scan rather than forgotten."""
    row = await conn.fetchrow(
        "SELECT r.id, (SELECT count(*) FROM signals s WHERE s.kind = 'ROLL' AND s.payload->>'roll' = r.id::text) AS"
        " steps, EXISTS (SELECT FROM signals s WHERE s.kind = 'ROLL' AND s.outcome = 'pending'"
        " AND s.payload->>'roll' = r.id::text) OR EXISTS (SELECT FROM orders o WHERE o.roll = r.id"
        " AND o.status IN ('pending', 'sent', 'partial', 'unknown')) AS waiting FROM rolls r WHERE r.instrument = $1"
        " AND r.state NOT IN ('done', 'failed')",
        instrument,
    )
    if row is None or row["waiting"]:
        return
    step = int(row["steps"]) + 1
    await conn.execute(
        "INSERT INTO signals (key, kind, instrument, signal_time, payload) VALUES ($1, 'ROLL', $2, $3, $4::jsonb)",
        step_key(row["id"], step),
        instrument,
        at,
        orjson.dumps(step_payload(row["id"], instrument, step)).decode(),
    )


async def resume_roll(conn: Connection, roll_id: int, at: datetime) -> None:
    """One of the roll's orders at the broker is done: once none is working, store the roll's next step (in the
    caller's transaction, with the fill or end that finished the last of them)."""
    instrument = await conn.fetchval("SELECT instrument FROM rolls WHERE id = $1", roll_id)
    if instrument is not None:
        await _resume(conn, instrument, at)


async def roll_orders(db: Executor, roll_id: int) -> list[RollOrderFact]:
    """Every order of a roll through a real broker, oldest first, with what filled of it."""
    rows = await db.fetch(
        "SELECT p.layer, o.side, o.lots, o.filled_lots, o.fill_price, o.status, o.reason, o.signal"
        " FROM orders o JOIN positions p ON p.id = o.position WHERE o.roll = $1 ORDER BY o.id",
        roll_id,
    )
    return [
        RollOrderFact(
            layer=r["layer"],
            closing=r["side"] == "SELL",
            lots=r["lots"],
            filled=r["filled_lots"],
            average=None if r["fill_price"] is None else float(r["fill_price"]),
            done=r["status"] in ("filled", "rejected", "cancelled"),
            reason=r["reason"],
            step=r["signal"],
        )
        for r in rows
    ]


async def commit_roll_step(
    conn: Connection,
    *,
    epoch: int,
    version: int,
    signal: PendingSignal,
    reason: str,
    record: dict[str, Any],
    at: datetime,
    changes: dict[str, Any],
    working: Sequence[dict[str, Any]] = (),
    alerts: Sequence[Alert] = (),
) -> None:
    """Write a roll step's outcome in one fenced transaction (sql/009's basso_commit_roll_step, and the facts'
    version it produced on the signal's row, which a replay follows: sql/010), with the orders it leaves `working`
    at a real broker (sql/014: each {"layer", "side", "lots", "quantity", "symbol", "price"}, committed `pending`
    for the order desk) and its `alerts`.

    FenceLost, AlreadyProcessed or StaleBook as `commit_decision`; in each case nothing was written."""
    async with conn.transaction():
        result: str = await conn.fetchval(
            "SELECT basso_commit_roll_step($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb)",
            epoch,
            version,
            signal.id,
            signal.key,
            reason,
            orjson.dumps(record).decode(),
            at,
            orjson.dumps(changes).decode(),
        )
        if result == "ok":
            await conn.execute("UPDATE signals SET book_version = $2 WHERE id = $1", signal.id, version)
            for n, order in enumerate(working):
                await conn.execute(
                    "INSERT INTO orders (client_id, signal, position, broker, instrument, symbol, side, lots,"
                    " quantity, price, status, epoch, roll)"
                    " SELECT $1, $2, p.id, $3, p.instrument, $4, $5, $6, $7, $8, 'pending', $9, $10 FROM positions p"
                    " WHERE p.instrument = $11 AND p.layer = $12 AND p.status <> 'closed'",
                    f"{signal.key}:{n}:{order['side']}:{order['symbol']}",
                    signal.id,
                    changes["broker"],
                    order["symbol"],
                    order["side"],
                    order["lots"],
                    order["quantity"],
                    Decimal(order["price"]),
                    epoch,
                    changes["roll"],
                    changes["instrument"],
                    order["layer"],
                )
            await raise_alerts(conn, alerts, at=at)
    if result == "processed":
        raise AlreadyProcessed(f"signal {signal.id} already has an outcome")
    if result.startswith("stale "):
        raise StaleBook(
            f"roll step {signal.id} was decided against book version {version - 1}, "
            f"the facts are at version {result.split()[1]}"
        )
    if result.startswith("fence "):
        raise FenceLost(epoch, int(result.split()[1]))
    if result != "ok":
        raise RuntimeError(f"basso_commit_roll_step answered {result!r}")
