"""Step two of an order (docs/architecture.md "Exactly once"): what became of each committed order, one fenced
transaction per event.

A placement result (`sent` with the broker's order id, or `unknown`), a fill (complete or partial), a reject
and a cancel each commit on their own, so a crash between two of them loses nothing and repeats nothing: an
event for an order already done changes nothing (`None`). Fills book the money: the commission of each, and on
the last fill of an exit the realised P&L from the quantity-weighted average price of all of them. An event
that changes the book (a fill, a reject, a cancel) moves the facts' version on, and returns the new version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from basso.enums import LedgerKind, OrderSide, OrderStatus, SignalOutcome
from basso.rules.alert import Alert
from basso.rules.money import ledger_amount, realised_pnl, to_decimal, to_money
from basso.rules.orders import Filling, OrderTicket
from basso.store.drawdown import raise_alerts
from basso.store.fence import fenced
from basso.store.types import Connection, Executor

__all__ = [
    "WORKING",
    "AfterFills",
    "LayerEntry",
    "WorkingOrder",
    "end_order",
    "instruments_with_working_orders",
    "known_broker_ids",
    "layer_entry",
    "record_fill",
    "record_leg",
    "record_placement",
    "unresolved_instruments",
    "working_orders",
]

# Orders not yet done: the Executor owns them, Recovery resolves them, /api/status counts them.
WORKING = (OrderStatus.PENDING.value, OrderStatus.SENT.value, OrderStatus.PARTIAL.value, OrderStatus.UNKNOWN.value)
_DONE = (OrderStatus.FILLED.value, OrderStatus.REJECTED.value, OrderStatus.CANCELLED.value)
_AVERAGE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingOrder:
    """A committed order not yet done, as stored: its ticket and what is known of it at the broker."""

    ticket: OrderTicket
    status: OrderStatus
    broker_order_id: str | None
    filled_lots: int
    checks: int
    symbol: str  # the contract the layer is in (the broker's symbol)
    expiry: date | None  # the contract's expiry (a synthetic's options expire with it)
    strike: int | None  # a synthetic's strike, once its first leg filled (None: a future, or not yet)


_SELECT_WORKING = (
    "SELECT o.client_id, o.signal, o.instrument, o.side, o.lots, o.price, o.status, o.broker_order_id,"
    " o.filled_lots, o.checks, p.contract, p.layer, p.point_value, p.entry_price, p.current_stop, p.atr,"
    " p.margin_per_lot, p.expiry, p.strike,"
    " coalesce(p.exit_reason, '') AS exit_reason"
    " FROM orders o JOIN positions p ON p.id = o.position"
    " WHERE o.status = ANY($1::text[]) AND ($2::bigint IS NULL OR o.signal = $2) ORDER BY o.id"
)


async def working_orders(db: Executor, *, signal: int | None = None) -> list[WorkingOrder]:
    """Every order not yet done (of `signal` only, if given), oldest first."""
    rows = await db.fetch(_SELECT_WORKING, list(WORKING), signal)
    return [
        WorkingOrder(
            ticket=_ticket(row),
            status=OrderStatus(row["status"]),
            broker_order_id=row["broker_order_id"],
            filled_lots=row["filled_lots"],
            checks=row["checks"],
            symbol=row["contract"] or row["instrument"],
            expiry=row["expiry"],
            strike=row["strike"],
        )
        for row in rows
    ]


async def known_broker_ids(db: Executor) -> set[str]:
    """Every broker order id already recorded against one of our orders (a lost one is none of these)."""
    return {
        r["broker_order_id"]
        for r in await db.fetch("SELECT broker_order_id FROM orders WHERE broker_order_id IS NOT NULL")
    }


async def instruments_with_working_orders(db: Executor) -> set[str]:
    """Instruments with an order not yet done: a roll does not start on them (docs/rules.md §7)."""
    rows = await db.fetch("SELECT DISTINCT instrument FROM orders WHERE status = ANY($1::text[])", list(WORKING))
    return {r["instrument"] for r in rows}


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerEntry:
    """An exit's layer as its entry left it: the entry order's client id and status, and the lots held."""

    client_id: str
    status: OrderStatus
    held: int


async def layer_entry(db: Executor, exit_client_id: str) -> LayerEntry | None:
    """The entry order of the layer the exit `exit_client_id` closes, if one is recorded (a layer entered before
    orders were kept, or a peel-off's own row, has none)."""
    row = await db.fetchrow(
        "SELECT e.client_id, e.status, p.lots FROM orders x JOIN positions p ON p.id = x.position"
        " JOIN orders e ON e.position = x.position AND e.side = 'BUY' WHERE x.client_id = $1",
        exit_client_id,
    )
    if row is None:
        return None
    return LayerEntry(client_id=row["client_id"], status=OrderStatus(row["status"]), held=row["lots"])


async def unresolved_instruments(db: Executor, *, checks: int) -> dict[str, str]:
    """Instruments with an order still `unknown` after `checks` resolution attempts: entries wait for them."""
    rows = await db.fetch(
        "SELECT DISTINCT ON (instrument) instrument, client_id FROM orders"
        " WHERE status = 'unknown' AND checks >= $1 ORDER BY instrument, id",
        checks,
    )
    return {r["instrument"]: r["client_id"] for r in rows}


def _ticket(row: asyncpg.Record) -> OrderTicket:
    opening = row["side"] == OrderSide.BUY.value
    return OrderTicket(
        client_id=row["client_id"],
        signal=row["signal"],
        instrument=row["instrument"],
        layer=row["layer"],
        opening=opening,
        lots=row["lots"],
        price=float(row["price"]),
        point_value=float(row["point_value"]),
        entry_price=float(row["entry_price"]),
        stop=float(row["current_stop"]),
        atr=float(row["atr"]),
        margin_per_lot=float(row["margin_per_lot"]),
        reason=row["exit_reason"],
        whole=True,
    )


async def record_placement(
    conn: Connection,
    *,
    epoch: int,
    client_id: str,
    status: OrderStatus,
    broker_order_id: str | None,
    reason: str,
    at: datetime,
    checks: int = 0,
) -> bool:
    """The order reached the broker (`sent`, with its order id) or its fate is `unknown`; False if it was
    already done (nothing written)."""
    async with fenced(conn, epoch):
        updated = await conn.execute(
            "UPDATE orders SET status = $2, broker_order_id = coalesce($3, broker_order_id), reason = $4,"
            " checks = checks + $5, updated_at = $6, epoch = $7"
            " WHERE client_id = $1 AND status = ANY($8::text[])",
            client_id,
            status.value,
            broker_order_id,
            reason[:500],
            checks,
            at,
            epoch,
            list(WORKING),
        )
    return bool(updated == "UPDATE 1")


async def _locked(conn: Connection, client_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT o.id, o.signal, o.position, o.side, o.lots, o.status, o.filled_lots, o.fill_price, p.entry_price,"
        " p.point_value, p.instrument, p.layer, p.entry_signal, p.lots AS layer_lots"
        " FROM orders o JOIN positions p ON p.id = o.position WHERE o.client_id = $1 FOR UPDATE OF o, p",
        client_id,
    )
    if row is None:
        raise LookupError(f"no order {client_id!r}: only committed orders are sent")
    return row


async def _next_version(conn: Connection) -> int:
    version: int = await conn.fetchval(
        "UPDATE controls SET book_version = book_version + 1 WHERE id = 1 RETURNING book_version"
    )
    return version


@dataclass(frozen=True, slots=True, kw_only=True)
class AfterFills:
    """What the caller's book reached once a signal's last fill is recorded: the day's peak to keep (`day` None:
    the day it is recorded on) and the drawdown band alert the fills caused, if any."""

    day: date | None
    peak: Decimal
    alert: Alert | None

    @classmethod
    def of(cls, filling: Filling) -> AfterFills:
        """What `filling`'s book keeps: its day's peak to the paisa, and its band alert."""
        day, peak = filling.book.peak_to_store
        return cls(day=day, peak=Decimal(to_money(round(peak, 2))), alert=filling.alert)


async def _after_fills(conn: Connection, at: datetime, after: AfterFills) -> None:
    # As basso_commit_decision (sql/010) keeps them: the day's highest sizing equity, and the band's alert.
    if after.peak > 0:
        await conn.execute(
            "INSERT INTO equity_peaks (day, peak) VALUES (coalesce($1, ($3 AT TIME ZONE 'Asia/Kolkata')::date), $2)"
            " ON CONFLICT (day) DO UPDATE SET peak = greatest(equity_peaks.peak, EXCLUDED.peak)",
            after.day,
            after.peak,
            at,
        )
    if after.alert is not None:
        await raise_alerts(conn, (after.alert,), at=at)


async def record_fill(
    conn: Connection,
    *,
    epoch: int,
    client_id: str,
    lots: int,
    price: float,
    commission: Decimal,
    at: datetime,
    broker_order_id: str | None = None,
    after: AfterFills | None = None,
) -> int | None:
    """`lots` of the order filled at `price` for `commission`: the layer opens (or becomes `partial`) at the
    average price of all its fills, an exit's layer closes with its realised P&L once the last lot is sold.
    The facts' new version, or None if the order was already done. `after`: what the caller's book reached with
    this fill, if it knows it."""
    async with fenced(conn, epoch):
        order = await _locked(conn, client_id)
        if order["status"] in _DONE:
            return None
        before = order["filled_lots"]
        filled = before + lots
        if filled > order["lots"]:
            raise ValueError(f"order {client_id}: {filled} lots filled of {order['lots']} ordered")
        exact = to_decimal(price)
        # The average of every fill, weighted by quantity (a first fill is its own price, exactly).
        average = exact if not before else ((order["fill_price"] * before + exact * lots) / filled)
        stored_average = average.quantize(_AVERAGE_PLACES)
        done = filled == order["lots"]
        version = await _next_version(conn)
        if after is not None:
            await _after_fills(conn, at, after)
        await conn.execute(
            "UPDATE orders SET status = $2, filled_lots = $3, fill_price = $4,"
            " commission = coalesce(commission, 0) + $5,"
            " broker_order_id = coalesce($6, broker_order_id), updated_at = $7, epoch = $8 WHERE id = $1",
            order["id"],
            (OrderStatus.FILLED if done else OrderStatus.PARTIAL).value,
            filled,
            stored_average,
            commission,
            broker_order_id,
            at,
            epoch,
        )
        await conn.execute(
            "INSERT INTO fills (order_id, lots, price, commission, at, book_version, epoch)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            order["id"],
            lots,
            exact,
            commission,
            at,
            version,
            epoch,
        )
        name = f"{order['instrument']} Long_{order['layer']}"
        opening = order["side"] == OrderSide.BUY.value
        if commission:
            await _book(
                conn,
                at,
                LedgerKind.COMMISSION,
                ledger_amount(LedgerKind.COMMISSION, commission),
                order,
                f"commission, {'entry' if opening else 'exit'} of {name}",
            )
        if opening:
            await _entry_filled(conn, order["position"], filled=filled, average=stored_average, done=done)
        elif done:
            exit_price = price if not before else float(average)
            pnl = realised_pnl(float(order["entry_price"]), exit_price, filled, float(order["point_value"]))
            await conn.execute(
                "UPDATE positions SET status = 'closed', closed_at = $2, exit_price = $3,"
                " realised_pnl = $4 WHERE id = $1",
                order["position"],
                at,
                stored_average,
                pnl,
            )
            if pnl:
                await _book(conn, at, LedgerKind.REALISED_PNL, pnl, order, f"realised P&L, {filled} lots of {name}")
        return version


async def _entry_filled(conn: Connection, position: int, *, filled: int, average: Decimal, done: bool) -> None:
    if not done:
        await conn.execute("UPDATE positions SET status = 'partial' WHERE id = $1 AND status = 'opening'", position)
        return
    # The actual price becomes the entry and, unless a bar has already raised it, the highest close
    # (basso.rules.orders.filled_layer, which the book in memory applies).
    await conn.execute(
        "UPDATE positions SET status = CASE WHEN status = 'closing' THEN status ELSE 'open' END, lots = $2,"
        " highest_close = CASE WHEN highest_close = entry_price THEN $3 ELSE greatest(highest_close, $3) END,"
        " entry_price = $3 WHERE id = $1",
        position,
        filled,
        average,
    )


async def _book(
    conn: Connection, at: datetime, kind: LedgerKind, amount: Decimal, order: asyncpg.Record, note: str
) -> None:
    await conn.execute(
        "INSERT INTO ledger (at, kind, amount, position, signal, note) VALUES ($1, $2, $3, $4, $5, $6)",
        at,
        kind.value,
        amount,
        order["position"],
        order["signal"],
        note,
    )


async def record_leg(
    conn: Connection, *, epoch: int, client_id: str, strike: int | None, note: str, at: datetime
) -> bool:
    """One leg of a synthetic order filled (docs/rules.md §8): the order and an opening layer are `partial` at once,
    with the strike the legs are at, so a filled leg is never lost. False if the order was already done."""
    async with fenced(conn, epoch):
        order = await _locked(conn, client_id)
        if order["status"] in _DONE:
            return False
        await conn.execute(
            "UPDATE orders SET status = 'partial', reason = $2, updated_at = $3, epoch = $4 WHERE id = $1",
            order["id"],
            note[:500],
            at,
            epoch,
        )
        await conn.execute(
            "UPDATE positions SET strike = coalesce($2, strike),"
            " status = CASE WHEN status = 'opening' THEN 'partial' ELSE status END WHERE id = $1",
            order["position"],
            strike,
        )
        return True


async def end_order(
    conn: Connection,
    *,
    epoch: int,
    client_id: str,
    status: OrderStatus,
    reason: str,
    at: datetime,
    realised: Decimal | None = None,
) -> int | None:
    """The order will fill no more (`rejected` or `cancelled`, with the broker's reason). An entry's layer keeps
    what filled, or closes at 0 lots and its signal's outcome becomes `failed` with the reason; an exit's unsold
    lots go back to the layer. `realised`: money made or lost on the way (a synthetic entry whose put was bought
    back), booked to the order's layer. The facts' new version, or None if the order was already done."""
    assert status in (OrderStatus.REJECTED, OrderStatus.CANCELLED), status
    async with fenced(conn, epoch):
        order = await _locked(conn, client_id)
        if order["status"] in _DONE:
            return None
        version = await _next_version(conn)
        if realised:
            await _book(conn, at, LedgerKind.REALISED_PNL, realised, order, f"{reason}"[:200])
        await conn.execute(
            "UPDATE orders SET status = $2, reason = $3, updated_at = $4, ended_version = $5, epoch = $6 WHERE id = $1",
            order["id"],
            status.value,
            reason[:500],
            at,
            version,
            epoch,
        )
        if order["side"] == OrderSide.BUY.value:
            await _entry_ended(conn, order, reason=reason, at=at, epoch=epoch)
        else:
            await _exit_ended(conn, order, reason=reason, at=at)
        if realised:
            await conn.execute(
                "UPDATE positions SET realised_pnl = realised_pnl + $2 WHERE id = $1", order["position"], realised
            )
        return version


async def _entry_ended(conn: Connection, order: asyncpg.Record, *, reason: str, at: datetime, epoch: int) -> None:
    filled = order["filled_lots"]
    if filled:
        await _entry_filled(conn, order["position"], filled=filled, average=order["fill_price"], done=True)
        return
    await conn.execute(
        "UPDATE positions SET status = 'closed', lots = 0, closed_at = $2, exit_reason = $3,"
        " realised_pnl = 0 WHERE id = $1",
        order["position"],
        at,
        f"entry not filled: {reason}"[:200],
    )
    await conn.execute(
        "UPDATE signals SET outcome = $2, reason = $3, epoch = $5 WHERE id = $1 AND outcome = $4",
        order["signal"],
        SignalOutcome.FAILED.value,
        f"broker: {reason}"[:500],
        SignalOutcome.EXECUTED.value,
        epoch,
    )


async def _exit_ended(conn: Connection, order: asyncpg.Record, *, reason: str, at: datetime) -> None:
    """An exit that sold `filled` of its lots: those close (P&L from their average), the rest are held again. An
    exit of a layer whose entry filled fewer lots than intended had only those to sell: no more is held again."""
    filled = order["filled_lots"]
    rest = max(0, min(order["lots"], order["layer_lots"]) - filled)
    position = order["position"]
    if filled:
        pnl = realised_pnl(float(order["entry_price"]), float(order["fill_price"]), filled, float(order["point_value"]))
        await conn.execute(
            "UPDATE positions SET status = 'closed', closed_at = $2, exit_price = $3,"
            " realised_pnl = $4, lots = $5 WHERE id = $1",
            position,
            at,
            order["fill_price"],
            pnl,
            filled,
        )
        if pnl:
            await _book(
                conn,
                at,
                LedgerKind.REALISED_PNL,
                pnl,
                order,
                f"realised P&L, {filled} lots of {order['instrument']} Long_{order['layer']}",
            )
    else:
        await conn.execute(
            "UPDATE positions SET status = 'closed', lots = 0, closed_at = $2, exit_price = NULL,"
            " realised_pnl = 0, exit_reason = $3 WHERE id = $1",
            position,
            at,
            f"exit not filled: {reason}"[:200],
        )
    # The unsold lots are held again: by the live row of the same layer (a peel-off's), else by a new live row.
    held = (
        await conn.fetchval(
            "UPDATE positions SET lots = lots + $3 WHERE instrument = $1 AND layer = $2"
            " AND status IN ('opening', 'partial', 'open') RETURNING id",
            order["instrument"],
            order["layer"],
            rest,
        )
        if rest
        else True
    )
    if held is None:
        await conn.execute(
            "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
            " highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at, entry_signal)"
            " SELECT instrument, layer, 'open', $2, entry_price, initial_stop, current_stop, highest_close, atr,"
            " point_value, margin_per_lot, contract, expiry, opened_at, entry_signal FROM positions WHERE id = $1",
            position,
            rest,
        )
