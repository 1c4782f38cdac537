"""Orders in two steps (docs/rules.md §8: working orders are part of the book), as pure functions.

Step one, `work`: a decision commits its layers and their orders before anything is sent. New layers are
booked `opening` at their intended lots, price and stop; layers being exited leave the book at once (the
lots an exit will sell are no longer risk the next signal may count on), peeled lots too. So the next
signal is decided against a book that counts every working order at its intended size and stop.

Step two, `fill_book`: each fill moves the book on from what was intended to what happened — an entry's
layer takes the actual price and quantity, an exit's realised P&L is booked from the actual exit price —
and only then may the drawdown peak rise (the peak is made of money, not of intentions).

With the paper broker (fills at once at the intended price ± slippage) the two steps together give exactly
`basso.rules.settlement.settle`: the backtest's fast path and the live path book the same money.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from basso.config import Config
from basso.enums import LedgerKind, OrderSide, SignalOutcome
from basso.rules.alert import Alert
from basso.rules.book import Book, Fill
from basso.rules.decisions import Decision
from basso.rules.layers import Layer
from basso.rules.money import ledger_amount, realised_pnl
from basso.rules.settlement import LedgerEntry, book_after, peaked, stops_moved, stored_price
from basso.rules.values import value_class

__all__ = ["Filling", "OrderTicket", "Working", "client_id", "fill_book", "work"]


@value_class
class OrderTicket:
    """One committed order: the layer it opens or closes, its side, lots and intended price.

    For an opening order `entry_price`, `stop` and `atr` are the layer's intended ones; for a closing order they
    are the layer's own (its realised P&L is measured from that entry)."""

    client_id: str
    signal: int  # the stored signal that decided it
    instrument: str
    layer: int
    opening: bool
    lots: int
    price: float  # the intended price: the signal's or the bar's
    point_value: float
    entry_price: float
    stop: float
    atr: float
    margin_per_lot: float
    reason: str  # why a closing order closes ("stop hit: …"); "" for an opening one
    whole: bool  # a closing order closes its whole layer (False: a peel-off)

    @property
    def side(self) -> OrderSide:
        """BUY to open a long layer, SELL to close one."""
        return OrderSide.BUY if self.opening else OrderSide.SELL


@value_class
class Working:
    """A decision committed as working orders: the tickets to send and the book that counts them."""

    decision: Decision
    tickets: tuple[OrderTicket, ...]
    book: Book
    drawdown_before: float  # the drawdown (%) before the decision: what its fills' band alert compares with
    # The decision's alerts and, when nothing is left working (the book is final), a drawdown band entered or left.
    alerts: tuple[Alert, ...] = ()


def client_id(key: str, n: int, side: OrderSide, instrument: str, layer: int) -> str:
    """The deterministic client id of a signal's `n`-th order: the same signal always names the same orders."""
    return f"{key}:{n}:{side.value}:{instrument}:L{layer}"


def work(decision: Decision, book: Book, config: Config, *, key: str, signal: int) -> Working:
    """`decision` applied to `book` as working orders: stops moved, exited lots gone, new layers `opening`."""
    book, layers = stops_moved(decision, book, config)
    tickets: list[OrderTicket] = []
    if decision.outcome is SignalOutcome.EXECUTED:
        for exit_ in decision.exits:
            layer = layers[(exit_.instrument, exit_.layer)]
            whole = exit_.lots >= layer.lots
            tickets.append(
                OrderTicket(
                    client_id=client_id(key, len(tickets), OrderSide.SELL, exit_.instrument, exit_.layer),
                    signal=signal,
                    instrument=exit_.instrument,
                    layer=exit_.layer,
                    opening=False,
                    lots=exit_.lots,
                    price=exit_.price,
                    point_value=layer.point_value,
                    entry_price=layer.entry_price,
                    stop=layer.stop,
                    atr=0.0,
                    margin_per_lot=0.0,
                    reason=exit_.reason,
                    whole=whole,
                )
            )
            if whole:
                del layers[(exit_.instrument, exit_.layer)]
            else:
                layers[(exit_.instrument, exit_.layer)] = layer.with_lots(layer.lots - exit_.lots)
        for entry in decision.entries:
            tickets.append(
                OrderTicket(
                    client_id=client_id(key, len(tickets), OrderSide.BUY, entry.instrument, entry.layer),
                    signal=signal,
                    instrument=entry.instrument,
                    layer=entry.layer,
                    opening=True,
                    lots=entry.lots,
                    price=entry.price,
                    point_value=entry.point_value,
                    entry_price=stored_price(entry.price),
                    stop=stored_price(entry.stop),
                    atr=stored_price(entry.atr),
                    margin_per_lot=entry.margin_per_lot,
                    reason="",
                    whole=True,
                )
            )
            layers[(entry.instrument, entry.layer)] = Layer(
                instrument=entry.instrument,
                layer=entry.layer,
                lots=entry.lots,
                entry_price=stored_price(entry.price),
                initial_stop=stored_price(entry.stop),
                stop=stored_price(entry.stop),
                highest_close=stored_price(entry.price),
                point_value=entry.point_value,
            )
    after = book_after(book, layers=layers.values(), mark=decision.mark, version=book.version + 1)
    alerts = decision.alerts
    drawdown_before = book.drawdown_pct(config)
    if not tickets:  # nothing working: the book is final, and its equity may be a new peak
        after, band = peaked(drawdown_before, after, config)
        alerts = alerts if band is None else (*alerts, band)
    return Working(
        decision=decision, tickets=tuple(tickets), book=after, drawdown_before=drawdown_before, alerts=alerts
    )


def fill_ledger(ticket: OrderTicket, fill: Fill) -> list[LedgerEntry]:
    """The ledger rows of `ticket` filled completely by `fill`: its commission and, closing, its realised P&L."""
    name = f"{ticket.instrument} Long_{ticket.layer}"
    rows: list[LedgerEntry] = []
    if fill.commission:
        rows.append(
            LedgerEntry(
                kind=LedgerKind.COMMISSION,
                amount=ledger_amount(LedgerKind.COMMISSION, fill.commission),
                instrument=ticket.instrument,
                layer=ticket.layer,
                note=f"commission, {'entry' if ticket.opening else 'exit'} of {name}",
            )
        )
    if not ticket.opening:
        pnl = realised_pnl(ticket.entry_price, fill.price, fill.lots, ticket.point_value)
        if pnl:
            rows.append(
                LedgerEntry(
                    kind=LedgerKind.REALISED_PNL,
                    amount=pnl,
                    instrument=ticket.instrument,
                    layer=ticket.layer,
                    note=f"realised P&L, {fill.lots} lots of {name}",
                )
            )
    return rows


def filled_layer(layer: Layer, *, lots: int, average: float) -> Layer:
    """An opening layer once its entry filled `lots` at `average`: the actual price becomes its entry and, unless a
    bar has already raised it, its highest close."""
    price = stored_price(average)
    untouched = layer.highest_close == layer.entry_price
    return replace(
        layer, lots=lots, entry_price=price, highest_close=price if untouched else max(layer.highest_close, price)
    )


@value_class
class Filling:
    """A book after fills, and the drawdown band alert they caused (if any)."""

    book: Book
    alert: Alert | None


def fill_book(
    book: Book, fills: Iterable[tuple[OrderTicket, Fill]], config: Config, *, version: int, drawdown_before: float
) -> Filling:
    """`book` after each ticket was filled completely by its fill (the facts now at `version`); the band alert
    compares the drawdown after the fills with `drawdown_before`, the one before the decision (a working exit's
    unrealised profit is neither held nor booked yet: the book in between is no yardstick)."""
    layers = {(x.instrument, x.layer): x for x in book.layers}
    cash = Decimal(0)
    for ticket, fill in fills:
        cash += sum((row.amount for row in fill_ledger(ticket, fill)), Decimal(0))
        if ticket.opening:
            key = (ticket.instrument, ticket.layer)
            layers[key] = filled_layer(layers[key], lots=fill.lots, average=fill.price)
    after = book_after(book, layers=layers.values(), mark=None, cash=cash, version=version)
    raised, band = peaked(drawdown_before, after, config)
    return Filling(book=raised, alert=band)
