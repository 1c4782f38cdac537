"""Settling a decision: its fills become ledger amounts, position changes and the next book.

One function computes the money, so the database (Persister) and the backtest book exactly the same
amounts: realised P&L = (exit − entry) × lots × pv and every commission, in Decimal paise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from basso.config import Config
from basso.enums import LedgerKind
from basso.rules.alert import Alert
from basso.rules.book import Book, Fill, Mark, book_order
from basso.rules.decisions import Decision
from basso.rules.equity import drawdown_band_alert
from basso.rules.layers import Layer
from basso.rules.money import ledger_amount, realised_pnl
from basso.rules.values import value_class

__all__ = ["Closing", "LedgerEntry", "Settlement", "book_after", "peaked", "settle", "stops_moved"]


@value_class
class LedgerEntry:
    """One signed ledger amount and the layer it belongs to."""

    kind: LedgerKind
    amount: Decimal
    instrument: str
    layer: int
    note: str


@value_class
class Closing:
    """Lots of a layer closed at a price: the whole layer, or a part (a peel-off)."""

    instrument: str
    layer: int
    lots: int
    entry_price: float
    exit_price: float
    realised_pnl: Decimal
    reason: str
    whole: bool


@value_class
class Settlement:
    """Everything a decision changes, ready to be written in one transaction."""

    decision: Decision
    fills: tuple[Fill, ...]
    closings: tuple[Closing, ...]
    ledger: tuple[LedgerEntry, ...]
    book: Book  # the book after this decision
    alerts: tuple[Alert, ...] = ()  # the decision's, and a drawdown band entered or left

    @property
    def cash(self) -> Decimal:
        """The net ledger change."""
        return sum((entry.amount for entry in self.ledger), Decimal(0))


# Prices, stops and ATRs are stored with four decimals; the book holds them exactly as stored, so a book
# rebuilt from the database after a restart is identical to one carried forward in memory.
PRICE_DECIMALS = 4


def stored_price(value: float) -> float:
    """`value` as the database keeps it."""
    return round(value, PRICE_DECIMALS)


def settle(decision: Decision, fills: list[Fill], book: Book, config: Config) -> Settlement:
    """Apply `decision`'s stop moves, fills and mark to `book`, and book the money."""
    book, layers = stops_moved(decision, book, config)
    closings: list[Closing] = []
    ledger: list[LedgerEntry] = []
    reasons = {(x.instrument, x.layer, x.lots): x.reason for x in decision.exits}
    for fill in fills:
        name = f"{fill.instrument} Long_{fill.layer}"
        if fill.commission:
            ledger.append(
                LedgerEntry(
                    kind=LedgerKind.COMMISSION,
                    amount=ledger_amount(LedgerKind.COMMISSION, fill.commission),
                    instrument=fill.instrument,
                    layer=fill.layer,
                    note=f"commission, {'entry' if fill.opening else 'exit'} of {name}",
                )
            )
        if fill.opening:
            entry = next(e for e in decision.entries if (e.instrument, e.layer) == (fill.instrument, fill.layer))
            layers[(fill.instrument, fill.layer)] = Layer(
                instrument=fill.instrument,
                layer=fill.layer,
                lots=fill.lots,
                entry_price=stored_price(fill.price),
                initial_stop=stored_price(entry.stop),
                stop=stored_price(entry.stop),
                highest_close=stored_price(fill.price),
                point_value=entry.point_value,
            )
            continue
        layer = layers[(fill.instrument, fill.layer)]
        pnl = realised_pnl(layer.entry_price, fill.price, fill.lots, layer.point_value)
        whole = fill.lots >= layer.lots
        closings.append(
            Closing(
                instrument=fill.instrument,
                layer=fill.layer,
                lots=fill.lots,
                entry_price=layer.entry_price,
                exit_price=fill.price,
                realised_pnl=pnl,
                reason=reasons.get((fill.instrument, fill.layer, fill.lots), "exit"),
                whole=whole,
            )
        )
        if pnl:
            ledger.append(
                LedgerEntry(
                    kind=LedgerKind.REALISED_PNL,
                    amount=pnl,
                    instrument=fill.instrument,
                    layer=fill.layer,
                    note=f"realised P&L, {fill.lots} lots of {name}",
                )
            )
        if whole:
            del layers[(fill.instrument, fill.layer)]
        else:
            layers[(fill.instrument, fill.layer)] = layer.with_lots(layer.lots - fill.lots)
    cash = sum((entry.amount for entry in ledger), Decimal(0))
    after = book_after(book, layers=layers.values(), mark=decision.mark, cash=cash, version=book.version + 1)
    after, band = peaked(book.drawdown_pct(config), after, config)
    alerts = decision.alerts if band is None else (*decision.alerts, band)
    return Settlement(
        decision=decision, fills=tuple(fills), closings=tuple(closings), ledger=tuple(ledger), book=after, alerts=alerts
    )


def stops_moved(decision: Decision, book: Book, config: Config) -> tuple[Book, dict[tuple[str, int], Layer]]:
    """`book` on the decision's exchange day, and its layers by (instrument, layer) with the decision's stops
    moved: where settling a decision (and committing it as working orders) starts."""
    if decision.day is not None:
        book = book.on_day(decision.day, config.drawdown.peak_days)
    layers = {(x.instrument, x.layer): x for x in book.layers}
    for move in decision.stop_moves:
        layer = layers[(move.instrument, move.layer)]
        layers[(move.instrument, move.layer)] = replace(
            layer, stop=stored_price(move.stop), highest_close=stored_price(move.highest_close)
        )
    return book, layers


def book_after(
    book: Book, *, layers: Iterable[Layer], mark: Mark | None, cash: Decimal = Decimal(0), version: int
) -> Book:
    """`book` holding `layers`, with `mark` applied (its price, ATR and time; a bar's time as the newest bar) and
    `cash` booked, at the facts' `version`. One new book, built once: this runs for every signal, live and in
    every backtest."""
    price, atr, marked_at, bar_at = book.price, book.atr, book.marked_at, book.bar_at
    if mark is not None:
        price = {**price, mark.instrument: stored_price(mark.price)}
        atr = {**atr, mark.instrument: stored_price(mark.atr)}
        marked_at = {**marked_at, mark.instrument: mark.at}
        if mark.bar:
            bar_at = {**bar_at, mark.instrument: mark.at}
    closed = book.closed_equity + cash
    return Book(
        closed_equity=closed,
        high_water=max(book.high_water, closed),
        equity_peak=book.equity_peak,
        layers=tuple(sorted(layers, key=book_order)),
        atr=atr,
        price=price,
        marked_at=marked_at,
        bar_at=bar_at,
        kill_switch=book.kill_switch,
        version=version,
        day=book.day,
        day_peak=book.day_peak,
        earlier_peaks=book.earlier_peaks,
    )


def peaked(drawdown_before: float, after: Book, config: Config) -> tuple[Book, Alert | None]:
    """`after` with its peak raised to its equity, and the alert for a drawdown band entered or left since
    `drawdown_before` (None if the band is the same)."""
    equity = after.sizing_equity(config)
    raised = after.with_peak_at(equity)
    band = drawdown_band_alert(
        before=drawdown_before, after=raised.drawdown_at(equity), peak=raised.equity_peak, rules=config.drawdown
    )
    return raised, band
