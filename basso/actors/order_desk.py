"""The order desk: the Executor's side of a real broker (OpenAlgo), where orders take seconds and may go missing.

Each committed order is worked by a task of its own, so a slow chase never holds up the next order (and the
pipeline never waits on a fill: the Sizer has already moved on). Every step is written before the next
request leaves, each in its own fenced transaction:

* `sending` is recorded (`sent`, no broker id yet) before the placement request leaves, so a crash at any
  point finds the order `sent`, never `pending`: it is then looked for at the broker, never sent again;
* the broker's order id is recorded as soon as it is known;
* the fill (quantity-weighted average of the trade book), a reject (the broker's words), or a cancel each
  end the order; the layer and the ledger follow (basso/store/orders.py), and the Sizer rebuilds its book.

An order whose fate the broker cannot tell (a timeout, a 5xx, a dropped connection, a success without an
order id) is `unknown`: it is looked for in the order book and the trade book a few more times, and one still
ambiguous after `unknown_checks` tries raises an alert; entries on its instrument wait until it is resolved
(the RiskGuard reads that), exits never do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg

from basso.actors.group_commit import GroupCommit
from basso.actors.turn import BookTurn
from basso.brokers.openalgo import (
    BrokerBooks,
    BrokerError,
    BrokerRefused,
    ChasePolicy,
    LegFill,
    LegIncomplete,
    LegOrder,
    LegWithdrawn,
    OpenAlgoBroker,
    OpenAlgoClient,
    OrderOutcomeUnknown,
    Quote,
    client_order_id,
    reconcile,
    synthetic_order,
)
from basso.config import Config
from basso.enums import AlertLevel, OrderStatus
from basso.rules.contracts import atm_strike
from basso.rules.money import commission, to_decimal
from basso.store.alerts import raise_alert
from basso.store.fence import FenceLost
from basso.store.orders import (
    WORKING,
    NewFill,
    WorkingOrder,
    end_order,
    exit_decided,
    known_broker_ids,
    layer_entry,
    record_fills,
    record_leg,
    record_placement,
    working_orders,
)
from basso.store.reconciliation import held_lots, record_reconciliation
from basso.store.retry import until_available
from basso.store.types import Connection
from basso.timeutil import exchange_date

__all__ = ["DeskContext", "OrderDesk"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# How old an order book read may be to tell a lost placement's order from those already there: the book stamps
# orders to the second, so matching by time can tell nothing closer apart (basso.brokers.openalgo.BrokerBooks).
ORDER_BOOK_FRESH_S = 1.0
# At most ten trade book reads a second: each returns the whole day's trades, and an order's fill waits at most this
# long for the next one (the orders that finish meanwhile share it).
TRADE_BOOK_EVERY_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class DeskContext:
    """What the desk needs: the pool, the configuration, the client, the epoch to write at and whom to tell."""

    pool: asyncpg.Pool
    config: Config
    client: OpenAlgoClient
    epoch: Callable[[], int]
    wall_clock: Callable[[], datetime]
    on_book_changed: Callable[[], Awaitable[None]]  # a fill, reject or cancel changed the facts: the receiver re-reads
    on_fence_lost: Callable[[FenceLost], None]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    turn: BookTurn = field(default_factory=BookTurn)  # shared with the SignalReceiver: records wait for its decision


def broker_tag(client_id: str) -> str:
    """What travels in OpenAlgo's `strategy` field for our order `client_id`: short, stable, ours."""
    return client_order_id(client_id, "order", "1")


class OrderDesk:
    """Works each order in a task of its own; `take_up` an order twice and it is worked once."""

    def __init__(self, context: DeskContext) -> None:
        self.context = context
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._checked: dict[str, date] = {}  # symbol → the exchange day /symbol last matched the configuration
        # One order book snapshot and one trade book read serve every order worked at once (BrokerBooks says why
        # that is still exactly once).
        self._books = BrokerBooks(context.client, fresh_s=ORDER_BOOK_FRESH_S, trades_every_s=TRADE_BOOK_EVERY_S)
        # Orders that finish together (one trade book read) have their fills recorded together.
        self._fills = GroupCommit(self._record_fills)

    async def reconcile(self) -> bool:
        """One reconciliation (docs/rules.md §8): the broker's position book against what our layers hold, per symbol. A
        break, or a book that cannot be read (the broker session failed, a wrong key), is recorded, alerted and
        blocks entries (the RiskGuard reads the newest check); the next check that matches lifts it. A symbol
        with an order working is not compared: its quantity is moving. True if it matched."""
        context = self.context
        config = context.config
        held, moving = await self._read(held_lots)
        expected: dict[str, int] = {}
        instrument_of: dict[str, str] = {}
        for (instrument, symbol, point_value), lots in held.items():
            lot_size = round(point_value * config.instrument(instrument).quote_unit)
            expected[symbol] = expected.get(symbol, 0) + lots * lot_size
            instrument_of[symbol] = instrument
        breaks: list[dict[str, Any]] = []
        error = ""
        try:
            positions = await context.client.positions()
        except BrokerError as failed:
            error = str(failed)
        else:
            for difference in reconcile(positions, expected):
                ours = instrument_of.get(difference.symbol) or self._instrument_trading(difference.symbol)
                if difference.symbol in moving or ours is None:
                    continue  # moving, or a symbol none of our instruments trades (the trader's own)
                breaks.append(
                    {
                        "instrument": ours,
                        "symbol": difference.symbol,
                        "kind": difference.kind,
                        "expected": difference.expected,
                        "at_broker": difference.at_broker,
                    }
                )
        at = context.wall_clock()
        await self._write(
            lambda conn: record_reconciliation(conn, epoch=context.epoch(), at=at, breaks=breaks, error=error)
        )
        if error:
            log.error("broker session: the position book could not be read (%s); entries wait", error)
            await self._write(
                lambda conn: raise_alert(
                    conn,
                    at=at,
                    level=AlertLevel.CRITICAL,
                    kind="broker_session",
                    dedupe="broker_session",
                    message=f"the broker's position book could not be read ({error}): is the OpenAlgo session "
                    "logged in? New entries wait until a check succeeds",
                    detail={"error": error},
                )
            )
        for found in breaks:
            log.error("reconciliation break: %s", found)
            await self._alert_break(found, at)
        return not breaks and not error

    async def _alert_break(self, b: dict[str, Any], at: datetime) -> None:
        async def write(conn: Connection) -> int | None:
            return await raise_alert(
                conn,
                at=at,
                level=AlertLevel.CRITICAL,
                kind="reconciliation_break",
                instrument=b["instrument"],
                dedupe=f"reconciliation:{b['symbol']}:{b['kind']}",
                detail=b,
                message=f"{b['symbol']}: {b['kind'].replace('_', ' ')} (we hold {b['expected']}, the broker "
                f"{b['at_broker']}); new entries on {b['instrument']} wait until it matches",
            )

        await self._write(write)

    def _instrument_trading(self, symbol: str) -> str | None:
        """The configured instrument whose contracts `symbol` names (the longest symbol root it starts with)."""
        roots = [
            (x.symbol_root, x.name)
            for x in self.context.config.instruments.values()
            if symbol.startswith(x.symbol_root)
        ]
        return max(roots)[1] if roots else None

    def take_up(self, order: WorkingOrder) -> None:
        """Work `order` unless it is already being worked."""
        key = order.ticket.client_id
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return
        task = asyncio.create_task(self._work(order), name=f"order {key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._tasks.pop(key) if self._tasks.get(key) is done else None)

    def working_on(self, client_id: str) -> bool:
        """Whether the order `client_id` is being worked now."""
        return client_id in self._tasks

    async def wait_idle(self) -> None:
        """Until every order taken up has been worked as far as it can be (tests)."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop working: the orders stay as recorded and the next incarnation takes them up from the facts."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await self._fills.close()
        await self._books.close()

    # --- one order ----------------------------------------------------------------------------------------

    def _leg(self, order: WorkingOrder) -> LegOrder:
        ticket = order.ticket
        instrument = self.context.config.instrument(ticket.instrument)
        lot_size = round(ticket.point_value * instrument.quote_unit)  # the layer's own contract lot size
        return LegOrder(
            client_id=broker_tag(ticket.client_id),
            symbol=order.symbol,
            exchange=instrument.exchange,
            action="BUY" if ticket.opening else "SELL",
            quantity=ticket.lots * lot_size,
            tick=to_decimal(instrument.tick),
            product=self.context.config.broker.product,
        )

    def _broker(self, order: WorkingOrder) -> OpenAlgoBroker:
        settings = self.context.config.broker
        tick = to_decimal(self.context.config.instrument(order.ticket.instrument).tick)
        policy = ChasePolicy(
            buffer=tick * settings.limit_buffer_ticks,
            step=tick * settings.limit_step_ticks,
            modifications=settings.modifications,
            interval_s=settings.step_interval_s,
            resolve_checks=settings.resolve_checks,
        )
        ticket = order.ticket

        async def withdrawn() -> bool:
            return ticket.opening and await self._read(lambda conn: exit_decided(conn, ticket.client_id))

        return OpenAlgoBroker(
            self.context.client, policy, sleep=self.context.sleep, withdrawn=withdrawn, books=self._books
        )

    async def _work(self, order: WorkingOrder) -> None:
        try:
            await self._work_until_done(order)
        except FenceLost as lost:
            self.context.on_fence_lost(lost)
        except asyncio.CancelledError:
            raise
        except Exception:  # never silent: the order stays as recorded, and the next sweep takes it up again
            log.exception("order %s: working it failed; it stays %s", order.ticket.client_id, order.status)

    async def _work_until_done(self, order: WorkingOrder) -> None:
        ticket = order.ticket
        instrument = self.context.config.instrument(ticket.instrument)
        if instrument.traded_as == "synthetic":
            await self._work_synthetic(order)
            return
        if order.status is not OrderStatus.PENDING:
            await self._work_future(order, None)
            return
        # The market is read while the facts are checked (both only read; nothing is recorded, nothing sent): the
        # first limit's price is ready when the checks are done (unless they waited: an exit, for its entry's chase).
        quote = asyncio.create_task(self.context.client.quote(order.symbol, instrument.exchange))
        # Only an exit asks which orders were being worked meanwhile: its entry's, to price from a fresh quote.
        working = () if ticket.opening else (key for key, task in self._tasks.items() if not task.done())
        worked_meanwhile = frozenset(working)
        try:
            await self._work_future(order, quote, worked_meanwhile)
        finally:
            if not quote.done():
                quote.cancel()
            elif not quote.cancelled():
                quote.exception()  # a quote never used (the order was not sent) may have failed: that is no news

    async def _work_future(
        self, order: WorkingOrder, quote: asyncio.Task[Quote] | None, worked_meanwhile: frozenset[str] = frozenset()
    ) -> None:
        """Work `order` to its end; `quote`, the market read as it was taken up, while the orders `worked_meanwhile`
        were being worked."""
        settings = self.context.config.broker
        ticket = order.ticket
        instrument = self.context.config.instrument(ticket.instrument)
        if not ticket.opening and order.status is OrderStatus.PENDING and order.roll is None:
            held, entry = await self._held_after_entry(order)
            if held is None:
                return  # the entry is not resolved: the exit waits for the next sweep, unsent
            if entry in worked_meanwhile:
                quote = None  # read before the entry's chase ended: the market is read again when the SELL is priced
            if held < ticket.lots:
                if not held:
                    await self._end(order, OrderStatus.CANCELLED, "nothing to sell: the layer's entry filled nothing")
                    return
                order = replace(order, ticket=replace(ticket, lots=held))  # sell only what was bought
        if ticket.opening and order.status is OrderStatus.PENDING:
            # Whether its exit came first is asked by the `sent` record itself, at the last moment (_Journal).
            mismatch = await self._check_contract(
                order, order.symbol, round(ticket.point_value * instrument.quote_unit)
            )
            if mismatch is not None:
                await self._end(order, OrderStatus.REJECTED, mismatch)
                return
        checks = order.checks
        first = order.status is OrderStatus.PENDING
        while True:
            journal = _Journal(self, order)
            try:
                fill = await (self._send(order, journal, quote) if first else self._resolve(order))
            except BrokerRefused as refused:
                await self._end(order, OrderStatus.REJECTED, refused.broker_message)
                return
            except (LegIncomplete, LegWithdrawn) as partly:
                if partly.part is not None:
                    await self._fill(order, partly.part)
                await self._end(order, OrderStatus.CANCELLED, partly.broker_message)
                return
            except OrderOutcomeUnknown as unknown:
                checks += 1
                await self._mark_unknown(order, str(unknown))
                if checks >= settings.unknown_checks:
                    await self._alert_unknown(order, str(unknown), checks)
                    return
                first = False
                await self.context.sleep(settings.step_interval_s)
                continue
            except BrokerError as failed:
                quote = None  # read again for the next try
                if first and not journal.sent:
                    # Nothing left us (the quote or the order book could not be read): try again later, unsent.
                    log.warning("order %s not sent: %s; trying again", ticket.client_id, failed)
                    await self.context.sleep(settings.step_interval_s)
                    continue
                raise
            await self._fill(order, fill)
            if order.ticket.lots < ticket.lots:  # an exit of fewer lots than committed: the order is done
                await self._end(order, OrderStatus.CANCELLED, f"the entry filled {order.ticket.lots} lots only")
            return

    async def _check_contract(self, order: WorkingOrder, symbol: str, lot_size: int) -> str | None:
        """Before a symbol's first entry of the day: the broker's lot size and tick for it (/symbol) must be the
        configuration's, or the quantities and prices Basso sends mean something else at the broker. The reason
        an entry must not be sent (a critical alert raised), or None. An unreadable /symbol is not a reason to
        stop trading: it is logged and asked again at the next entry."""
        context = self.context
        instrument = context.config.instrument(order.ticket.instrument)
        today = exchange_date(context.wall_clock())
        if self._checked.get(symbol) == today:
            return None
        try:
            found = await context.client.symbol(symbol, instrument.exchange)
        except BrokerRefused as refused:
            problem = f"OpenAlgo does not know {symbol} on {instrument.exchange} ({refused.broker_message})"
        except BrokerError as failed:
            log.warning("the contract check of %s could not be made (%s); the order goes out unchecked", symbol, failed)
            return None
        else:
            tick = to_decimal(instrument.tick)
            if found.lot_size == lot_size and found.tick == tick:
                self._checked[symbol] = today
                return None
            problem = (
                f"{symbol}: the broker's lot size {found.lot_size} and tick {found.tick.normalize():f} are not the "
                f"configuration's {lot_size} and {tick.normalize():f} ([instruments.{instrument.name}])"
            )
        reason = f"{problem}: entries on {instrument.name} wait until they match"
        log.error("contract check: %s", reason)
        await self._write(
            lambda conn: raise_alert(
                conn,
                at=context.wall_clock(),
                level=AlertLevel.CRITICAL,
                kind="contract_mismatch",
                instrument=instrument.name,
                dedupe=f"contract_mismatch:{symbol}:{today.isoformat()}",
                message=reason,
                detail={"symbol": symbol},
            )
        )
        return reason

    async def _reread(self, order: WorkingOrder) -> WorkingOrder:
        client_id = order.ticket.client_id
        found = await self._read(lambda conn: working_orders(conn, signal=order.ticket.signal))
        return next((w for w in found if w.ticket.client_id == client_id), order)

    async def _held_after_entry(self, order: WorkingOrder) -> tuple[int | None, str | None]:
        """An exit of a layer still opening waits until the layer's entry is done, so it never sells what was not
        bought: the entry's chase sees the exit decided at its next step, cancels what has not filled and keeps
        what has (a synthetic's entry, all or nothing, runs its course). The lots held then, or None while the
        entry is unresolved at the broker; and the entry order's client id (None: the layer has none recorded)."""
        client_id = order.ticket.client_id
        entry = await self._read(lambda conn: layer_entry(conn, client_id))
        if entry is None:
            return order.ticket.lots, None
        task = self._tasks.get(entry.client_id)
        if task is not None or entry.status.value in WORKING:
            # Read again after the entry's work is over, even if it was over already: it may have ended between the
            # read above and now (and its task been forgotten: none is kept once done).
            if task is not None:
                await asyncio.wait([task])
            entry = await self._read(lambda conn: layer_entry(conn, client_id))
            assert entry is not None
        if entry.status.value in WORKING:
            log.warning("exit %s waits: the layer's entry %s is %s", client_id, entry.client_id, entry.status)
            return None, entry.client_id
        return min(order.ticket.lots, entry.held), entry.client_id

    # --- a synthetic (Bank Nifty): two option legs make one layer's order ------------------------------------

    async def _work_synthetic(self, order: WorkingOrder) -> None:
        """Enter (SELL the ATM put, BUY the ATM call; the put bought back if the call fails) or exit (BUY the put
        back, SELL the call) one layer's synthetic. Each leg filled is recorded before the next is sent (the order
        and an opening layer `partial`); a leg whose fate is lost, or a half-done exit, is `unknown` with a
        critical alert: it is never re-sent blindly, and never left unreported."""
        ticket = order.ticket
        instrument = self.context.config.instrument(ticket.instrument)
        if order.status is not OrderStatus.PENDING:
            # Sent before a crash or a takeover: which legs filled is for the trader to check at the broker.
            await self._unknown_synthetic(order, "interrupted after it was sent; check both legs at the broker")
            return
        if not ticket.opening and order.roll is None:
            held, _entry = await self._held_after_entry(order)
            if held is None:
                return  # the entry is not resolved: the exit waits for the next sweep, unsent
            if not held:  # both legs of an entry fill, or its put is bought back: all or nothing
                await self._end(order, OrderStatus.CANCELLED, "nothing to sell: the layer's entry filled nothing")
                return
            order = await self._reread(order)  # the strike its entry's first leg recorded
        strike, step = order.strike, instrument.strike_step
        if strike is None and step:
            # A new layer goes in at the ATM strike of the price it was decided at; a layer whose strike was never
            # recorded went in at its entry's (basso.rules.rollover.entry_strike).
            strike = atm_strike(ticket.price if ticket.opening else ticket.entry_price, step)
        if order.expiry is None or strike is None:
            await self._end(order, OrderStatus.REJECTED, "the layer's option contract (expiry, strike) is not known")
            return
        lot_size = round(ticket.point_value * instrument.quote_unit)  # the layer's own contract lot size
        legs = synthetic_order(
            replace(instrument, lot_size=lot_size),
            origin=ticket.client_id,
            action="entry" if ticket.opening else "exit",
            expiry=order.expiry,
            strike=strike,
            lots=ticket.lots,
        )
        legs = replace(legs, product=self.context.config.broker.product)
        if ticket.opening:
            for leg_symbol in (legs.put_symbol, legs.call_symbol):
                mismatch = await self._check_contract(order, leg_symbol, lot_size)
                if mismatch is not None:
                    await self._end(order, OrderStatus.REJECTED, mismatch)
                    return
        broker = self._broker(order)
        journal = _Journal(self, order)
        filled: list[LegFill] = []

        async def leg_filled(leg: LegFill) -> None:
            filled.append(leg)
            note = ", ".join(f"{x.action} {x.quantity} {x.symbol} at {x.average_price}" for x in filled)
            await self._write(
                lambda conn: record_leg(
                    conn,
                    epoch=self.context.epoch(),
                    client_id=ticket.client_id,
                    strike=strike,
                    note=f"filled: {note}",
                    at=self.context.wall_clock(),
                )
            )

        try:
            if ticket.opening:
                entry = await broker.enter_synthetic(legs, leg_filled, journal)
                if entry.outcome == "filled":
                    assert entry.entry_price is not None
                    await self._fill_at(order, ticket.lots, entry.entry_price, entry.put.broker_order_id)
                elif entry.outcome == "reversed":
                    assert entry.reversal is not None
                    back = (entry.put.average_price - entry.reversal.average_price) * entry.put.quantity
                    await self._end(
                        order,
                        OrderStatus.REJECTED,
                        f"call leg failed ({entry.reason}); the put was bought back",
                        realised=back.quantize(Decimal("0.01")),
                    )
                else:  # unhedged or unresolved: a leg may be open at the broker
                    await self._unknown_synthetic(order, f"synthetic entry {entry.outcome}: {entry.reason}")
                return
            put = await broker.trade_leg(legs.leg("1", legs.put_symbol, "BUY"), journal)
            await leg_filled(put)
            try:
                call = await broker.trade_leg(legs.leg("2", legs.call_symbol, "SELL"), journal)
            except BrokerError as failed:
                await self._unknown_synthetic(order, f"the put was bought back but selling the call failed: {failed}")
                return
            await leg_filled(call)
            price = Decimal(strike) + call.average_price - put.average_price
            await self._fill_at(order, ticket.lots, price, call.broker_order_id)
        except BrokerRefused as refused:  # the first leg: nothing is held
            await self._end(order, OrderStatus.REJECTED, refused.broker_message)
        except BrokerError as failed:  # the first leg's fate is lost, or part of it filled
            await self._unknown_synthetic(order, str(failed))

    async def _unknown_synthetic(self, order: WorkingOrder, reason: str) -> None:
        checks = self.context.config.broker.unknown_checks
        # At once past every check: entries on the instrument wait for the trader.
        await self._mark_unknown(order, reason, checks=checks)
        await self._alert_unknown(order, reason, checks)

    async def _send(self, order: WorkingOrder, journal: _Journal, quote: asyncio.Task[Quote] | None) -> LegFill:
        """Work `order` at the broker, its first limit priced from `quote` if that was read while it was checked."""
        market = await quote if quote is not None else None
        return await self._broker(order).trade_leg(self._leg(order), journal, quote=market)

    async def _resolve(self, order: WorkingOrder) -> LegFill:
        """An order that left us, whose fate we lost: find it at the broker and finish it — never send it again."""
        broker = self._broker(order)
        leg = self._leg(order)
        orderid = order.broker_order_id
        if orderid is None:
            mine = await self._read(known_broker_ids)
            book = await self.context.client.order_book()
            found = [
                o.orderid
                for o in book
                if o.orderid not in mine
                and o.symbol == leg.symbol
                and o.action == leg.action
                and o.quantity == leg.quantity
            ]
            if len(found) != 1:
                raise OrderOutcomeUnknown(
                    "orderbook",
                    f"{len(found)} orders at the broker match {leg.action} {leg.quantity} {leg.symbol}; not re-sent",
                )
            orderid = found[0]
            await _Journal(self, order).placed(leg.client_id, orderid)
        state = await self.context.client.order_status(orderid, strategy=leg.client_id)
        if state.status == "complete":
            return await broker.traded(leg, (orderid,))
        if state.status == "rejected":
            raise BrokerRefused("orderstatus", f"order {orderid} rejected")
        return await broker.cancel_and_take(leg, orderid)  # still working, or cancelled part-filled

    # --- the record ----------------------------------------------------------------------------------------

    async def _fill(self, order: WorkingOrder, fill: LegFill) -> None:
        leg = self._leg(order)
        lots = fill.quantity * order.ticket.lots // leg.quantity
        await self._fill_at(order, lots, fill.average_price, fill.broker_order_id)

    async def _fill_at(self, order: WorkingOrder, lots: int, average: Decimal, broker_order_id: str) -> None:
        ticket = order.ticket
        price = float(average)
        # OpenAlgo does not report charges: the configured rate (per side, of notional) stands for them.
        cost = commission(price, lots, ticket.point_value, self.context.config.paper.commission_pct)
        fill = NewFill(
            client_id=ticket.client_id,
            lots=lots - order.filled_lots,
            price=price,
            commission=cost,
            at=self.context.wall_clock(),
            broker_order_id=broker_order_id,
        )
        async with self.context.turn.recording():  # not while a decision is in flight (BookTurn)
            done = await self._fills.submit(fill)
        if done is not None:
            await self.context.on_book_changed()

    async def _record_fills(self, fills: list[NewFill]) -> list[int | None]:
        async def write(conn: Connection) -> list[int | None]:
            return await record_fills(conn, epoch=self.context.epoch(), fills=fills)

        return await self._write(write)

    async def _end(
        self, order: WorkingOrder, status: OrderStatus, reason: str, *, realised: Decimal | None = None
    ) -> None:
        async with self.context.turn.recording():
            done = await self._write(
                lambda conn: end_order(
                    conn,
                    epoch=self.context.epoch(),
                    client_id=order.ticket.client_id,
                    status=status,
                    reason=reason,
                    at=self.context.wall_clock(),
                    realised=realised,
                )
            )
        if done is not None:
            await self.context.on_book_changed()

    async def _mark_unknown(self, order: WorkingOrder, reason: str, *, checks: int = 1) -> None:
        """The order's fate is not known at the broker; `checks` more resolution attempts spent."""
        await self._write(
            lambda conn: record_placement(
                conn,
                epoch=self.context.epoch(),
                client_id=order.ticket.client_id,
                status=OrderStatus.UNKNOWN,
                broker_order_id=None,
                reason=reason,
                at=self.context.wall_clock(),
                checks=checks,
            )
        )

    async def _alert_unknown(self, order: WorkingOrder, reason: str, checks: int) -> None:
        ticket = order.ticket
        log.error(
            "order %s is unknown after %d checks: %s; entries on %s wait for it",
            ticket.client_id,
            checks,
            reason,
            ticket.instrument,
        )
        await self._write(
            lambda conn: raise_alert(
                conn,
                at=self.context.wall_clock(),
                level=AlertLevel.CRITICAL,
                kind="order_unknown",
                instrument=ticket.instrument,
                dedupe=f"order_unknown:{ticket.client_id}",
                message=f"order {ticket.client_id} ({ticket.side.value} {ticket.lots} lots of {ticket.instrument} "
                f"Long_{ticket.layer}) is in an unknown state after {checks} checks: look it up at the broker. "
                f"New entries on {ticket.instrument} are blocked until it is resolved",
                detail={"client_id": ticket.client_id, "reason": reason},
            )
        )

    async def _write(self, write: Callable[[Connection], Awaitable[T]]) -> T:
        async def once() -> T:
            async with self.context.pool.acquire() as conn:
                return await write(conn)

        return await until_available(once, what="order desk")

    async def _read(self, read: Callable[[Connection], Awaitable[T]]) -> T:
        async with self.context.pool.acquire() as conn:
            return await read(conn)


class _Journal:
    """Records an order's placement as it happens (basso.brokers.openalgo.PlacementJournal)."""

    def __init__(self, desk: OrderDesk, order: WorkingOrder) -> None:
        self.desk = desk
        self.order = order
        self.sent = False  # a placement request may have left: from now on the order is looked for, not sent

    async def sending(self, strategy: str) -> None:
        """Record `sent` before the request leaves. An entry's first placement is withdrawn instead (LegWithdrawn,
        nothing sent) if its layer's exit has been committed meanwhile."""
        desk = self.desk
        first_entry = self.order.ticket.opening and self.order.status is OrderStatus.PENDING and not self.sent
        self.sent = True
        recorded = await desk._write(
            lambda conn: record_placement(
                conn,
                epoch=desk.context.epoch(),
                client_id=self.order.ticket.client_id,
                status=OrderStatus.SENT,
                broker_order_id=None,
                reason="",
                at=desk.context.wall_clock(),
                unless_closing=first_entry,
            )
        )
        if recorded == "closing":
            self.sent = False
            raise LegWithdrawn("placeorder", "withdrawn unsent: the layer's exit came first", part=None)

    async def placed(self, strategy: str, orderid: str) -> None:
        desk = self.desk
        await desk._write(
            lambda conn: record_placement(
                conn,
                epoch=desk.context.epoch(),
                client_id=self.order.ticket.client_id,
                status=OrderStatus.SENT,
                broker_order_id=orderid,
                reason="",
                at=desk.context.wall_clock(),
            )
        )
