"""Step two of an order (docs/architecture.md "Exactly once"): what became of each committed order, each event in
a fenced transaction.

A placement result (`sent` with the broker's order id, or `unknown`), a fill (complete or partial), a reject
and a cancel each commit whole and before the next request leaves (fills that come together may share one
transaction: `record_fills`), so a crash between two of them loses nothing and repeats nothing: an event for
an order already done changes nothing (`None`). Fills book the money: the commission of each, and on
the last fill of an exit the realised P&L from the quantity-weighted average price of all of them. An event
that changes the book (a fill, a reject, a cancel) moves the facts' version on, and returns the new version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, cast

import asyncpg
import orjson

from basso.enums import LedgerKind, OrderSide, OrderStatus, SignalOutcome
from basso.rules.alert import Alert
from basso.rules.money import ledger_amount, realised_pnl, to_decimal, to_money
from basso.rules.orders import Filling, OrderTicket
from basso.store.fence import FenceLost, fenced
from basso.store.outcomes import alert_json
from basso.store.rolls import resume_roll
from basso.store.types import Connection, Executor

__all__ = [
    "WORKING",
    "AfterFills",
    "LayerEntry",
    "NewFill",
    "NotUnknown",
    "WorkingOrder",
    "end_order",
    "exit_decided",
    "instruments_with_working_orders",
    "known_broker_ids",
    "layer_entry",
    "record_fill",
    "record_fills",
    "record_leg",
    "record_placement",
    "resolve_by_hand",
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
    roll: int | None = None  # the roll it is a leg of (sql/014), whose next step waits for it


# A roll's order (sql/014) names its own contract: the old one's to close, the new one's (expiry, strike) to open.
_SELECT_WORKING = (
    "SELECT o.client_id, o.signal, o.instrument, o.side, o.lots, o.price, o.status, o.broker_order_id,"
    " o.filled_lots, o.checks, o.roll, p.layer, p.point_value, p.entry_price, p.current_stop, p.atr,"
    " p.margin_per_lot, coalesce(p.exit_reason, '') AS exit_reason,"
    " CASE WHEN o.roll IS NULL THEN coalesce(nullif(p.contract, ''), o.instrument) ELSE o.symbol END AS symbol,"
    " CASE WHEN o.roll IS NOT NULL AND o.side = 'BUY' THEN r.new_expiry ELSE p.expiry END AS expiry,"
    " CASE WHEN o.roll IS NOT NULL AND o.side = 'BUY' THEN r.new_strike ELSE p.strike END AS strike"
    " FROM orders o JOIN positions p ON p.id = o.position LEFT JOIN rolls r ON r.id = o.roll"
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
            symbol=row["symbol"],
            expiry=row["expiry"],
            strike=row["strike"],
            roll=row["roll"],
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


async def exit_decided(db: Executor, entry_client_id: str) -> bool:
    """Whether the layer the entry order `entry_client_id` opens is already being closed (its exit committed while
    the entry was still working): what has not filled of the entry is then no longer wanted."""
    closing: bool | None = await db.fetchval(
        "SELECT p.status = 'closing' FROM orders o JOIN positions p ON p.id = o.position WHERE o.client_id = $1",
        entry_client_id,
    )
    return bool(closing)


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
    unless_closing: bool = False,
) -> Literal["ok", "done", "closing"]:
    """The order reached the broker (`sent`, with its order id) or its fate is `unknown`: "ok"; "done" if it was
    already done, and with `unless_closing` "closing" if its layer is being closed (an entry's exit came first);
    nothing is written then. FenceLost if a newer leader holds the fence (nothing written).

    One round trip (sql/015's basso_record_placement): it is written twice for every order sent (`sent` before
    the request leaves, then the broker's id)."""
    result: str = await conn.fetchval(
        "SELECT basso_record_placement($1, $2, $3, $4, $5, $6, $7, $8::text[], $9)",
        epoch,
        client_id,
        status.value,
        broker_order_id,
        reason[:500],
        checks,
        at,
        list(WORKING),
        unless_closing,
    )
    if result.startswith("fence "):
        raise FenceLost(epoch, int(result.split()[1]))
    assert result in ("ok", "done", "closing"), result
    return cast(Literal["ok", "done", "closing"], result)


async def _locked(conn: Connection, client_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT o.id, o.signal, o.position, o.side, o.lots, o.status, o.filled_lots, o.fill_price, o.roll,"
        " p.entry_price, p.point_value, p.instrument, p.layer, p.entry_signal, p.lots AS layer_lots"
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


def _after(after: AfterFills | None) -> dict[str, Any] | None:
    # As basso_commit_decision (sql/010) keeps them: the day's highest sizing equity, and the band's alert.
    if after is None:
        return None
    alerts = [alert_json(after.alert)] if after.alert is not None else []
    day = after.day.isoformat() if after.day is not None else None
    return {"day": day, "day_peak": str(after.peak), "alerts": alerts}


# The orders and their layers as they are now; basso_record_fill (sql/013) writes only if they still are.
_READ_FOR_FILLS = (
    "SELECT o.id, o.client_id, o.side, o.lots, o.status, o.filled_lots, o.fill_price, o.roll, p.entry_price,"
    " p.point_value, p.instrument, p.layer FROM orders o JOIN positions p ON p.id = o.position"
    " WHERE o.client_id = ANY($1::text[])"
)
# Reads before giving up on an order that keeps changing under us (another writer on it: a bug, not contention).
_FILL_ATTEMPTS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class NewFill:
    """`lots` more of order `client_id` filled at `price` for `commission`, seen at `at`. `after`: what the
    recorder's book reached with it, if it knows."""

    client_id: str
    lots: int
    price: float
    commission: Decimal
    at: datetime
    broker_order_id: str | None = None
    after: AfterFills | None = None


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
    this fill, if it knows it. FenceLost if a newer leader holds the fence (nothing written)."""
    fill = NewFill(
        client_id=client_id,
        lots=lots,
        price=price,
        commission=commission,
        at=at,
        broker_order_id=broker_order_id,
        after=after,
    )
    (version,) = await record_fills(conn, epoch=epoch, fills=[fill])
    return version


async def record_fills(conn: Connection, *, epoch: int, fills: Sequence[NewFill]) -> list[int | None]:
    """Each of `fills` recorded as `record_fill` records one; the facts' version after each (None: its order was
    already done). FenceLost if a newer leader holds the fence (nothing written).

    Two round trips for them all: the orders are read, the money worked out here by the rules in
    basso.rules.money, and sql/016's basso_record_fills writes them in one call, fenced, each only if its order
    is still as it was read (else it is read again: so two fills of one order are recorded in turn). A roll's
    leg, whose last fill also stores the roll's next step, takes a transaction of its own around both."""
    versions: dict[int, int | None] = {}
    todo = list(range(len(fills)))
    for _ in range(_FILL_ATTEMPTS):
        rows = await conn.fetch(_READ_FOR_FILLS, [fills[n].client_id for n in todo])
        orders = {row["client_id"]: row for row in rows}
        writes: list[tuple[int, _FillWrite]] = []
        moved: list[int] = []
        for n in todo:
            fill = fills[n]
            order = orders.get(fill.client_id)
            if order is None:
                async with fenced(conn, epoch):
                    await _locked(conn, fill.client_id)  # raises: the fence is lost, or there is no such order
                moved.append(n)  # it was committed meanwhile: read it again
            elif order["status"] in _DONE:
                versions[n] = None
            elif order["roll"] is not None:
                result = await _FillWrite.of(order, fill).write_with_roll(conn, epoch, order["roll"])
                _settle(versions, moved, n, result, epoch)
            else:
                writes.append((n, _FillWrite.of(order, fill)))
        if writes:
            results: list[str] = await conn.fetchval(
                "SELECT basso_record_fills($1, $2::jsonb)", epoch, _fills_json(write for _, write in writes)
            )
            for (n, _), result in zip(writes, results, strict=False):  # a lost fence ends the results early
                _settle(versions, moved, n, result, epoch)
        if not moved:
            return [versions[n] for n in range(len(fills))]
        todo = moved
    raise RuntimeError(f"order {fills[todo[0]].client_id} kept changing while its fill was recorded")


def _settle(versions: dict[int, int | None], moved: list[int], n: int, result: str, epoch: int) -> None:
    """What basso_record_fill answered for fill `n`."""
    if result.startswith("ok "):
        versions[n] = int(result.split()[1])
    elif result.startswith("fence "):
        raise FenceLost(epoch, int(result.split()[1]))
    elif result == "done":
        versions[n] = None
    else:
        assert result == "moved", result
        moved.append(n)


@dataclass(frozen=True, slots=True, kw_only=True)
class _FillWrite:
    """What basso_record_fill (sql/013) writes for one fill, worked out from the order as it was read."""

    order: int
    before: int  # lots filled when the order was read: the write happens only if that is still so
    entry: Decimal  # the layer's entry price when read: likewise
    at: datetime
    lots: int
    price: Decimal
    commission: Decimal
    broker_order_id: str | None
    status: str
    filled: int
    average: Decimal
    layer: dict[str, Any] | None
    ledger: list[dict[str, str]]
    after: dict[str, Any] | None

    @classmethod
    def of(cls, order: asyncpg.Record, fill: NewFill) -> _FillWrite:
        """`fill` of `order`: the money by the rules of basso.rules.money."""
        before, lots, price, commission = order["filled_lots"], fill.lots, fill.price, fill.commission
        filled = before + lots
        if filled > order["lots"]:
            raise ValueError(f"order {order['id']}: {filled} lots filled of {order['lots']} ordered")
        exact = to_decimal(price)
        # The average of every fill, weighted by quantity (a first fill is its own price, exactly).
        average = exact if not before else ((order["fill_price"] * before + exact * lots) / filled)
        stored_average = average.quantize(_AVERAGE_PLACES)
        done = filled == order["lots"]
        name = f"{order['instrument']} Long_{order['layer']}"
        opening = order["side"] == OrderSide.BUY.value
        roll = order["roll"]
        ledger: list[dict[str, str]] = []
        if commission:
            # A roll's leg leaves its layer as it is (the roll's last step shifts it): its commission is the roll's.
            kind = LedgerKind.COMMISSION if roll is None else LedgerKind.ROLL_COST
            side = (
                ("entry" if opening else "exit") if roll is None else f"roll {roll}, {'open' if opening else 'close'}"
            )
            note = f"commission, {side} of {name}"
            ledger.append({"kind": kind.value, "amount": str(ledger_amount(kind, commission)), "note": note})
        layer: dict[str, Any] | None = None
        if roll is None and opening:
            layer = {"opened": filled, "average": str(stored_average)} if done else {"partial": True}
        elif roll is None and done:
            exit_price = price if not before else float(average)
            pnl = realised_pnl(float(order["entry_price"]), exit_price, filled, float(order["point_value"]))
            layer = {"closed": {"exit_price": str(stored_average), "pnl": str(pnl)}}
            if pnl:
                note = f"realised P&L, {filled} lots of {name}"
                ledger.append({"kind": LedgerKind.REALISED_PNL.value, "amount": str(pnl), "note": note})
        return cls(
            order=order["id"],
            before=before,
            entry=order["entry_price"],
            at=fill.at,
            lots=lots,
            price=exact,
            commission=commission,
            broker_order_id=fill.broker_order_id,
            status=(OrderStatus.FILLED if done else OrderStatus.PARTIAL).value,
            filled=filled,
            average=stored_average,
            layer=layer,
            ledger=ledger,
            after=_after(fill.after),
        )

    def as_json(self) -> dict[str, Any]:
        # Numbers as strings: PostgreSQL reads them back as numeric, exactly.
        return {
            "order": self.order,
            "before": self.before,
            "entry": str(self.entry),
            "at": self.at.isoformat(),
            "lots": self.lots,
            "price": str(self.price),
            "commission": str(self.commission),
            "broker_order_id": self.broker_order_id,
            "status": self.status,
            "filled": self.filled,
            "average": str(self.average),
            "layer": self.layer,
            "ledger": self.ledger,
            "after": self.after,
        }

    async def write_with_roll(self, conn: Connection, epoch: int, roll: int) -> str:
        """Written with the roll's next step, once this leg has filled completely, in one transaction."""
        async with conn.transaction():
            (result,) = await conn.fetchval("SELECT basso_record_fills($1, $2::jsonb)", epoch, _fills_json([self]))
            if result.startswith("ok ") and self.status == OrderStatus.FILLED.value:
                await resume_roll(conn, roll, self.at)
        assert isinstance(result, str)
        return result


def _fills_json(writes: Iterable[_FillWrite]) -> str:
    return orjson.dumps([write.as_json() for write in writes]).decode()


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
        if order["roll"] is None:  # a roll's legs leave the layer to the roll's last step
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
        # The facts' version locked before the order and its layer, as a decision takes them (no lock cycle).
        await conn.execute("SELECT FROM controls WHERE id = 1 FOR UPDATE")
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
        if order["roll"] is not None:  # what filled is what the roll's next step reads: the layer stays as it is
            await resume_roll(conn, order["roll"], at)
        elif order["side"] == OrderSide.BUY.value:
            await _entry_ended(conn, order, status=status, reason=reason, at=at, epoch=epoch)
        else:
            await _exit_ended(conn, order, reason=reason, at=at)
        if realised:
            await conn.execute(
                "UPDATE positions SET realised_pnl = realised_pnl + $2 WHERE id = $1", order["position"], realised
            )
        return version


class NotUnknown(Exception):
    """An order resolved by hand must be `unknown`: Basso is still working it, or it is done."""


async def resolve_by_hand(
    conn: Connection,
    *,
    epoch: int,
    client_id: str,
    filled_lots: int,
    price: float | None,
    commission: Decimal,
    at: datetime,
    note: str,
) -> int | None:
    """The trader looked an `unknown` order up at the broker: `filled_lots` of it filled in all (at the average
    `price`, for `commission` on what filled beyond what is recorded), and it will fill no more. Booked as the
    broker's own answer would have been: the fill, then a cancel of the rest. The facts' new version.
    NotUnknown if the order is no longer unknown (nothing written); ValueError for lots it cannot have filled."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT status, lots, filled_lots FROM orders WHERE client_id = $1 FOR UPDATE", client_id
        )
        if row is None or row["status"] != OrderStatus.UNKNOWN.value:
            raise NotUnknown(f"order {client_id} is {row['status'] if row else 'not recorded'}, not unknown")
        if not row["filled_lots"] <= filled_lots <= row["lots"]:
            raise ValueError(
                f"order {client_id} is for {row['lots']} lots and has {row['filled_lots']} recorded filled: "
                f"filled_lots must be between the two"
            )
        version = None
        if filled_lots > row["filled_lots"]:
            if price is None or not price > 0:
                raise ValueError(f"{filled_lots - row['filled_lots']} lots filled: at what average price?")
            version = await record_fill(
                conn,
                epoch=epoch,
                client_id=client_id,
                lots=filled_lots - row["filled_lots"],
                price=price,
                commission=commission,
                at=at,
            )
        if filled_lots < row["lots"]:
            version = await end_order(
                conn, epoch=epoch, client_id=client_id, status=OrderStatus.CANCELLED, reason=note, at=at
            )
        return version


async def _entry_ended(
    conn: Connection, order: asyncpg.Record, *, status: OrderStatus, reason: str, at: datetime, epoch: int
) -> None:
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
        # A reject is the broker's say; a cancel is ours (the layer's exit came first) or the chase's.
        f"{'broker' if status is OrderStatus.REJECTED else 'cancelled'}: {reason}"[:500],
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
