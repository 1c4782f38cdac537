"""The values the pure rules read: one open layer of a position, and a snapshot of the portfolio.

A position in an instrument is a stack of layers: layer 1 is the base entry (Long_1), layers 2… are
pyramids (Long_2 … Long_N). Each layer is sized, stopped and peeled independently, so the rules work on
layers, not on positions. Everything here is float-based: these values sit on the hot path of the backtest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, replace

from basso.rules.values import value_class

__all__ = ["BASE_LAYER", "Layer", "PortfolioSnapshot"]

BASE_LAYER = 1  # Long_1, the base entry; pyramids are 2, 3, …


@value_class
class Layer:
    """One open layer: what the sizing, risk, stop and peel-off rules need to know about it.

    `point_value` is ₹ per 1.0 price point per lot *for this layer's contract*: it is fixed when the layer
    is entered (Bank Nifty's changes with its lot size history), so it travels with the layer rather than
    being looked up again.
    """

    instrument: str
    layer: int
    lots: int
    entry_price: float
    initial_stop: float
    stop: float
    highest_close: float
    point_value: float

    @property
    def is_base(self) -> bool:
        """True for the base entry (Long_1)."""
        return self.layer == BASE_LAYER

    @property
    def position(self) -> str:
        """The signal's name for this layer: Long_1, Long_2, …"""
        return f"Long_{self.layer}"

    def with_lots(self, lots: int) -> Layer:
        """The same layer holding `lots` (after a peel-off)."""
        return replace(self, lots=lots)


@value_class
class PortfolioSnapshot:
    """What the portfolio looks like when a rule is asked a question.

    `equity` is the sizing equity in the configured mode (see `basso.rules.equity`); `atr` and `price` hold the
    newest ATR and mark per instrument (from the newest signal or market-data bar); `margin_used` is the
    margin the open layers hold (see `basso.rules.portfolio.margin_used`).
    """

    equity: float
    layers: tuple[Layer, ...] = ()
    atr: Mapping[str, float] = field(default_factory=dict)
    price: Mapping[str, float] = field(default_factory=dict)
    margin_used: float = 0.0

    def layers_of(self, instrument: str) -> tuple[Layer, ...]:
        """The open layers of `instrument`, base first."""
        return tuple(sorted((x for x in self.layers if x.instrument == instrument), key=lambda x: x.layer))

    def base_of(self, instrument: str) -> Layer | None:
        """The open base layer (Long_1) of `instrument`, if any."""
        return next((x for x in self.layers if x.instrument == instrument and x.is_base), None)

    def with_market(self, instrument: str, *, price: float, atr: float) -> PortfolioSnapshot:
        """The snapshot after a newer price and ATR for `instrument` (a signal is the newest observation)."""
        return replace(self, price={**self.price, instrument: price}, atr={**self.atr, instrument: atr})
