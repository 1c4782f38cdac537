"""Processing's write path: take the oldest pending signal, and commit its whole outcome in one fenced
transaction — position rows, ledger rows, order rows, marks, stops and the signal's outcome and decision.

The signal's row is updated only while it is still `pending`, inside the fenced transaction: a signal
whose outcome is already committed can never be applied twice, and a crash before the commit leaves it
pending to be processed again from scratch (the paper broker is deterministic, so the retry is identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from basso.enums import OrderSide, OrderStatus, PositionStatus
from basso.money import to_decimal
from basso.settlement import Closing, Settlement, stored_price
from basso.store.fence import fenced
from basso.store.types import Connection, Executor


class AlreadyProcessed(Exception):
    """The signal's outcome was committed before (by this or another instance): nothing was written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingSignal:
    """A stored signal waiting for its outcome."""

    id: int
    key: str
    payload: dict[str, Any]


async def next_pending(conn: Executor, after: int = 0) -> PendingSignal | None:
    """The oldest pending signal with an id above `after`, if any."""
    found = await pending_signals(conn, after=after, limit=1)
    return found[0] if found else None


async def pending_signals(conn: Executor, *, after: int = 0, limit: int) -> list[PendingSignal]:
    """Up to `limit` pending signals with ids above `after`, oldest first."""
    rows = await conn.fetch("SELECT id, key, payload FROM signals WHERE outcome = 'pending' AND id > $1"
                            " ORDER BY id LIMIT $2", after, limit)
    return [PendingSignal(id=r["id"], key=r["key"], payload=orjson.loads(r["payload"])) for r in rows]


def _price(value: float) -> Any:
    return to_decimal(stored_price(value))


async def commit_outcome(conn: Connection, *, epoch: int, signal: PendingSignal, settlement: Settlement,
                         at: datetime) -> None:
    """Write `settlement` as the outcome of `signal`, fenced by `epoch`; AlreadyProcessed if it has one."""
    decision = settlement.decision
    async with fenced(conn, epoch):
        updated = await conn.execute(
            "UPDATE signals SET outcome = $2, reason = $3, decision = $4::jsonb, processed_at = $5, epoch = $6"
            " WHERE id = $1 AND outcome = 'pending'",
            signal.id, decision.outcome.value, decision.reason, orjson.dumps(decision.record).decode(), at, epoch)
        if updated != "UPDATE 1":
            raise AlreadyProcessed(f"signal {signal.id} already has an outcome")
        await _write_positions(conn, signal, settlement, at, epoch)
        if decision.mark is not None and settlement.mark_changed:
            instrument, price, atr = decision.mark
            await conn.execute(
                "INSERT INTO instrument_marks (instrument, price, atr, at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (instrument) DO UPDATE SET price = $2, atr = $3, at = $4",
                instrument, _price(price), _price(atr), at)
        if settlement.peak_raised:
            await conn.execute("UPDATE controls SET equity_peak = greatest(equity_peak, $1) WHERE id = 1",
                               to_decimal(round(settlement.book.equity_peak, 2)))


async def _live_position(conn: Connection, instrument: str, layer: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM positions WHERE instrument = $1 AND layer = $2 AND status <> 'closed'",
                              instrument, layer)
    if row is None:
        raise RuntimeError(f"no live position for {instrument} Long_{layer}: the book and the database disagree")
    return row


async def _write_positions(conn: Connection, signal: PendingSignal, settlement: Settlement, at: datetime,
                           epoch: int) -> None:
    decision = settlement.decision
    for move in decision.stop_moves:
        await conn.execute(
            "UPDATE positions SET current_stop = $3, highest_close = $4"
            " WHERE instrument = $1 AND layer = $2 AND status <> 'closed'",
            move.instrument, move.layer, _price(move.stop), _price(move.highest_close))
    position_of: dict[tuple[str, int], int] = {}
    closings = iter(settlement.closings)
    for n, fill in enumerate(settlement.fills):
        key = (fill.instrument, fill.layer)
        if fill.opening:
            entry = next(e for e in decision.entries if (e.instrument, e.layer) == key)
            position_of[key] = await conn.fetchval(
                "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
                " highest_close, atr, point_value, margin_per_lot, opened_at, entry_signal)"
                " VALUES ($1, $2, 'open', $3, $4, $5, $5, $4, $6, $7, $8, $9, $10) RETURNING id",
                fill.instrument, fill.layer, fill.lots, _price(fill.price), _price(entry.stop), _price(entry.atr),
                to_decimal(entry.point_value), to_decimal(entry.margin_per_lot), at,
                signal.id)
            side = OrderSide.BUY
        else:
            closing = next(closings)
            live = await _live_position(conn, fill.instrument, fill.layer)
            position_of[key] = await _close(conn, live, closing.whole, fill.lots, fill.price, closing, signal, at)
            side = OrderSide.SELL
        await conn.execute(
            "INSERT INTO orders (client_id, signal, position, broker, instrument, symbol, side, lots, quantity, price,"
            " status, fill_price, commission, epoch)"
            " VALUES ($1, $2, $3, 'paper', $4, $4, $5, $6, $6, $7, $8, $7, $9, $10)",
            f"{signal.key}:{n}:{side.value}:{fill.instrument}:L{fill.layer}", signal.id, position_of[key],
            fill.instrument, side.value, fill.lots, _price(fill.price), OrderStatus.FILLED.value,
            fill.commission, epoch)
    if settlement.ledger:
        await conn.executemany(
            "INSERT INTO ledger (at, kind, amount, position, signal, note) VALUES ($1, $2, $3, $4, $5, $6)",
            [(at, row.kind.value, row.amount, position_of.get((row.instrument, row.layer)), signal.id, row.note)
             for row in settlement.ledger])


async def _close(conn: Connection, live: asyncpg.Record, whole: bool, lots: int, price: float,
                 closing: Closing, signal: PendingSignal, at: datetime) -> int:
    if whole:
        await conn.execute(
            "UPDATE positions SET status = $2, closed_at = $3, exit_price = $4, exit_signal = $5, exit_reason = $6,"
            " realised_pnl = $7 WHERE id = $1",
            live["id"], PositionStatus.CLOSED.value, at, _price(price), signal.id, closing.reason[:200],
            closing.realised_pnl)
        return int(live["id"])
    # A peel-off: the live row keeps the remaining lots; the peeled lots become a closed row of their own.
    await conn.execute("UPDATE positions SET lots = lots - $2 WHERE id = $1", live["id"], lots)
    closed_id: int = await conn.fetchval(
        "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
        " highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at, entry_signal, closed_at,"
        " exit_price, exit_signal, exit_reason, realised_pnl)"
        " SELECT instrument, layer, 'closed', $2, entry_price, initial_stop, current_stop, highest_close, atr,"
        " point_value, margin_per_lot, contract, expiry, opened_at, entry_signal, $3, $4, $5, $6, $7"
        " FROM positions WHERE id = $1 RETURNING id",
        live["id"], lots, at, _price(price), signal.id, closing.reason[:200], closing.realised_pnl)
    return closed_id
