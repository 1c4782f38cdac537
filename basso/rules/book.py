"""The book: the portfolio as the rules see it, rebuilt from the stored facts and advanced by each outcome.

Positions and the ledger are the truth; the book is derived from them (`basso.store.book.load_book`) and
kept current by applying every committed outcome, so a sizing decision is always made against a state that
includes every earlier signal. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field
from datetime import date, datetime, timedelta
from decimal import Decimal

from basso.config import Config
from basso.rules.equity import drawdown, equity_in_mode, peak_after_capital
from basso.rules.layers import Layer, PortfolioSnapshot
from basso.rules.portfolio import margin_used
from basso.rules.values import value_class

__all__ = ["Book", "Fill", "Mark", "book_order"]

# An entry's price is checked against its instrument's latest mark only while that mark is this recent.
MARK_FRESH_FOR = timedelta(hours=24)


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
class Mark:
    """An instrument's newest observation: price, ATR, and when (the signal's or bar's own timestamp)."""

    instrument: str
    price: float
    atr: float
    at: datetime
    bar: bool  # a MARKET_DATA bar (a later bar must be stamped after it), not a signal's price


@value_class
class Book:
    """Open layers, closed equity, its high-water mark, the drawdown peak, marks and the kill switch.

    The drawdown peak (docs/rules.md §2) is the highest sizing equity of the last `drawdown.peak_days` days (0: all
    time): `equity_peak` is the peak in force. With a window the book also keeps `day` (the exchange day of
    the newest signal), `day_peak` (that day's highest equity) and `earlier_peaks` (each earlier day's
    highest inside the window); all time, it needs none of them.
    """

    closed_equity: Decimal  # exact: the ledger's sum
    high_water: Decimal  # the highest closed equity ever
    equity_peak: float  # the drawdown peak in force
    layers: tuple[Layer, ...] = ()
    atr: Mapping[str, float] = field(default_factory=dict)
    price: Mapping[str, float] = field(default_factory=dict)
    marked_at: Mapping[str, datetime] = field(default_factory=dict)  # when each price was observed
    bar_at: Mapping[str, datetime] = field(default_factory=dict)  # the newest bar applied, per instrument
    kill_switch: bool = False
    # The facts' version this book was built at (controls.book_version): an outcome commits only if nothing
    # else has changed the facts since, so no decision is ever stored against a stale book.
    version: int = 0
    day: date | None = None
    day_peak: float = 0.0
    earlier_peaks: tuple[tuple[date, float], ...] = ()

    def unrealised(self) -> float:
        """Σ (mark − entry) × lots × pv over the open layers (a layer's own entry when no mark is known)."""
        # `layer_unrealised_pnl` written out: this runs several times for every signal, live and in backtests.
        price, total = self.price, 0.0
        for x in self.layers:
            total += (price.get(x.instrument, x.entry_price) - x.entry_price) * x.lots * x.point_value
        return total

    def sizing_equity(self, config: Config) -> float:
        """Equity in the configured mode (blended by default)."""
        rules = config.portfolio
        return equity_in_mode(
            rules.equity_mode,
            closed=float(self.closed_equity),
            unrealised=self.unrealised(),
            high_water=float(self.high_water),
            blended_weight=rules.blended_unrealised_weight,
        )

    def drawdown_pct(self, config: Config) -> float:
        """1 − equity ÷ peak equity (same mode), in percent."""
        return self.drawdown_at(self.sizing_equity(config))

    def drawdown_at(self, equity: float) -> float:
        """The drawdown in percent when the sizing equity is `equity` (a higher equity is its own peak)."""
        return drawdown(equity, max(self.equity_peak, equity)) * 100.0

    def snapshot(self, config: Config) -> PortfolioSnapshot:
        """The portfolio as the pure rules read it."""
        atr = {**{x.instrument: 0.0 for x in self.layers}, **self.atr}
        return PortfolioSnapshot(
            equity=self.sizing_equity(config),
            layers=self.layers,
            atr=atr,
            price={x.instrument: self.price.get(x.instrument, x.entry_price) for x in self.layers} | dict(self.price),
            margin_used=margin_used(self.layers, config.instruments),
        )

    def layer(self, instrument: str, number: int) -> Layer | None:
        """The open layer `number` of `instrument`, if any."""
        for x in self.layers:  # a handful at most: a loop beats building a generator on this hot path
            if x.layer == number and x.instrument == instrument:
                return x
        return None

    def marked(self, instrument: str, *, price: float, atr: float) -> Book:
        """The book with a newer price and ATR for `instrument`."""
        return self._but(price={**self.price, instrument: price}, atr={**self.atr, instrument: atr})

    def fresh_mark(self, instrument: str, now: datetime) -> float | None:
        """The latest mark of `instrument` if it was observed within `MARK_FRESH_FOR` before `now`."""
        at = self.marked_at.get(instrument)
        if at is None or now - at > MARK_FRESH_FOR:
            return None
        return self.price.get(instrument)

    @property
    def peak_to_store(self) -> tuple[date | None, float]:
        """The (day, peak) the facts must keep for this book: its day's own peak when it keeps days (a window),
        else the all-time peak (stored under the day it is committed on)."""
        return (self.day, self.day_peak) if self.day is not None else (None, self.equity_peak)

    def on_day(self, day: date, peak_days: int) -> Book:
        """The book on exchange day `day`, which starts its own day's peak afresh. With a window of
        `peak_days` days, the days that left the window no longer hold the peak up.

        A book that knew no day yet (just loaded, or a backtest's first) carries its day's peak into `day`:
        the equity it was loaded at is an equity seen that day.
        """
        if day == self.day or not peak_days:  # all time, days do not matter (the peak stays): no copy to make
            return self
        carried = self.day_peak if self.day is None else 0.0
        first = day - timedelta(days=peak_days - 1)  # the window: `first` … `day`
        known = self.earlier_peaks if self.day is None else (*self.earlier_peaks, (self.day, self.day_peak))
        kept = [p for p in known if p[0] >= first]
        today = max((p for d, p in kept if d == day), default=carried)
        return self._but(
            day=day,
            day_peak=max(today, carried),
            earlier_peaks=tuple(p for p in kept if p[0] != day),
            equity_peak=max((p for _, p in kept), default=carried),
        )

    def with_layers(self, layers: Iterable[Layer]) -> Book:
        """The book holding `layers` instead of its own."""
        return self._but(layers=tuple(sorted(layers, key=book_order)))

    def with_peak(self, config: Config) -> Book:
        """The book with its peak (and its day's peak) raised to the current sizing equity if that is higher."""
        return self.with_peak_at(self.sizing_equity(config))

    def with_peak_at(self, equity: float) -> Book:
        """`with_peak` for a sizing equity already computed."""
        if equity <= self.day_peak and equity <= self.equity_peak:
            return self
        return self._but(equity_peak=max(equity, self.equity_peak), day_peak=max(equity, self.day_peak))

    def with_capital(self, amount: Decimal, config: Config) -> tuple[Book, tuple[float, float]]:
        """The book after a deposit (`amount` > 0) or a withdrawal (< 0), and how its peak moved, as
        (factor, add): every day's peak becomes peak × factor + add (`peak_after_capital`)."""
        factor, add = peak_after_capital(amount=float(amount), equity=self.sizing_equity(config))
        closed = self.closed_equity + amount
        book = Book(
            closed_equity=closed,
            high_water=max(self.high_water, closed),
            equity_peak=self.equity_peak * factor + add,
            layers=self.layers,
            atr=self.atr,
            price=self.price,
            marked_at=self.marked_at,
            bar_at=self.bar_at,
            kill_switch=self.kill_switch,
            version=self.version + 1,
            day=self.day,
            day_peak=self.day_peak * factor + add,
            earlier_peaks=tuple((d, p * factor + add) for d, p in self.earlier_peaks),
        )
        return book, (factor, add)

    def with_peak_reset(self, config: Config) -> Book:
        """The book after an operator resets the drawdown peak to today's equity (docs/rules.md §2): every earlier
        day is forgotten, and the peak starts again from the sizing equity now."""
        equity = self.sizing_equity(config)
        return self._but(equity_peak=equity, day_peak=equity, earlier_peaks=())

    def _but(
        self,
        *,
        equity_peak: float | None = None,
        layers: tuple[Layer, ...] | None = None,
        atr: Mapping[str, float] | None = None,
        price: Mapping[str, float] | None = None,
        day: date | None = None,
        day_peak: float | None = None,
        earlier_peaks: tuple[tuple[date, float], ...] | None = None,
    ) -> Book:
        # dataclasses.replace, without its field-by-field introspection: these copies are made for every signal.
        return Book(
            closed_equity=self.closed_equity,
            high_water=self.high_water,
            equity_peak=self.equity_peak if equity_peak is None else equity_peak,
            layers=self.layers if layers is None else layers,
            atr=self.atr if atr is None else atr,
            price=self.price if price is None else price,
            marked_at=self.marked_at,
            bar_at=self.bar_at,
            kill_switch=self.kill_switch,
            version=self.version,
            day=self.day if day is None else day,
            day_peak=self.day_peak if day_peak is None else day_peak,
            earlier_peaks=self.earlier_peaks if earlier_peaks is None else earlier_peaks,
        )
