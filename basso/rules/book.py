"""The book: the portfolio as the rules see it, rebuilt from the stored facts and advanced by each outcome.

Positions and the ledger are the truth; the book is derived from them (`basso.store.book.load_book`) and
kept current by applying every committed outcome, so a sizing decision is always made against a state that
includes every earlier signal. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field
from decimal import Decimal

from basso.config import Config
from basso.rules.equity import drawdown, equity_in_mode, unrealised_pnl
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.portfolio import margin_used
from basso.rules.values import value_class

__all__ = ["Book", "Fill", "book_order"]


def book_order(layer: Layer) -> tuple[str, int]:
    """The order a book keeps its layers in: by instrument, then layer number."""
    return layer.instrument, layer.layer


@value_class
class Fill:
    """What the broker did with one order: the layer it touched, lots, price and commission (₹, paise)."""

    instrument: str
    layer: int
    lots: int
    price: float
    commission: Decimal
    opening: bool  # True for an entry, False for an exit or a peel-off


@value_class
class Book:
    """Open layers, closed equity, its high-water mark, the sizing-equity peak, marks and the kill switch."""

    closed_equity: Decimal  # exact: the ledger's sum
    high_water: Decimal  # the highest closed equity ever
    equity_peak: float  # the highest sizing equity seen, for drawdown
    layers: tuple[Layer, ...] = ()
    atr: Mapping[str, float] = field(default_factory=dict)
    price: Mapping[str, float] = field(default_factory=dict)
    kill_switch: bool = False
    # The facts' version this book was built at (controls.book_version): an outcome commits only if nothing
    # else has changed the facts since, so no decision is ever stored against a stale book.
    version: int = 0

    def unrealised(self) -> float:
        """Σ (mark − entry) × lots × pv over the open layers (a layer's own entry when no mark is known)."""
        marks = {x.instrument: self.price.get(x.instrument, x.entry_price) for x in self.layers}
        return unrealised_pnl(self.layers, marks)

    def sizing_equity(self, config: Config) -> float:
        """Equity in the configured mode (blended by default)."""
        rules = config.portfolio
        return equity_in_mode(rules.equity_mode, closed=float(self.closed_equity), unrealised=self.unrealised(),
                              high_water=float(self.high_water), blended_weight=rules.blended_unrealised_weight)

    def drawdown_pct(self, config: Config) -> float:
        """1 − equity ÷ peak equity (same mode), in percent."""
        return self.drawdown_at(self.sizing_equity(config))

    def drawdown_at(self, equity: float) -> float:
        """The drawdown in percent when the sizing equity is `equity` (a higher equity is its own peak)."""
        return drawdown(equity, max(self.equity_peak, equity)) * 100.0

    def snapshot(self, config: Config) -> PortfolioSnapshot:
        """The portfolio as the pure rules read it."""
        atr = {**{x.instrument: 0.0 for x in self.layers}, **self.atr}
        return PortfolioSnapshot(equity=self.sizing_equity(config), layers=self.layers, atr=atr,
                                 price={x.instrument: self.price.get(x.instrument, x.entry_price)
                                        for x in self.layers} | dict(self.price),
                                 margin_used=margin_used(self.layers, config.instruments))

    def layer(self, instrument: str, number: int) -> Layer | None:
        """The open layer `number` of `instrument`, if any."""
        for x in self.layers:  # a handful at most: a loop beats building a generator on this hot path
            if x.layer == number and x.instrument == instrument:
                return x
        return None

    def marked(self, instrument: str, *, price: float, atr: float) -> Book:
        """The book with a newer price and ATR for `instrument`."""
        return self._but(price={**self.price, instrument: price}, atr={**self.atr, instrument: atr})

    def with_layers(self, layers: Iterable[Layer]) -> Book:
        """The book holding `layers` instead of its own."""
        return self._but(layers=tuple(sorted(layers, key=book_order)))

    def with_peak(self, config: Config) -> Book:
        """The book with its sizing-equity peak raised to the current equity if that is higher."""
        equity = self.sizing_equity(config)
        return self._but(equity_peak=equity) if equity > self.equity_peak else self

    def _but(self, *, equity_peak: float | None = None, layers: tuple[Layer, ...] | None = None,
             atr: Mapping[str, float] | None = None, price: Mapping[str, float] | None = None) -> Book:
        # dataclasses.replace, without its field-by-field introspection: these copies are made for every signal.
        return Book(closed_equity=self.closed_equity, high_water=self.high_water,
                    equity_peak=self.equity_peak if equity_peak is None else equity_peak,
                    layers=self.layers if layers is None else layers, atr=self.atr if atr is None else atr,
                    price=self.price if price is None else price, kill_switch=self.kill_switch, version=self.version)
