"""Rolling a layer into the next contract (docs/rules.md §7): how urgent, which legs, and how the layer moves.

Pure: the RolloverScanner reads the facts, asks these functions, and stores each transition of the roll's state
machine before it acts on it, so a crash between two steps resumes rather than repeats or forgets a leg.

The roll keeps the layer's risk unchanged. The new contract trades at a different price (the roll spread, new
minus old), so entry, highest close and both stops move by that spread: the distance to the stop, in points and
in rupees, is what it was. The old contract's profit is not realised into the ledger at the roll: it stays in the
layer, whose shifted entry carries it (exit − (entry + spread) = (old price − entry) + (exit − new price)). Only
the roll's costs (commissions, and whatever the fills gave away against the marks) go to the ledger at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from enum import StrEnum

from basso.config import Instrument
from basso.enums import OrderSide, RollState
from basso.rules.contracts import Contract, days_to_expiry, in_roll_window
from basso.rules.layers import Layer
from basso.rules.values import value_class

__all__ = [
    "Leg",
    "RollStep",
    "Urgency",
    "close_legs",
    "next_step",
    "open_legs",
    "roll_spread",
    "roll_urgency",
    "shifted",
    "synthetic_price",
]


class Urgency(StrEnum):
    """How pressing a held contract's roll is on a day (docs/rules.md §7, escalation)."""

    NOT_DUE = "not_due"  # outside the roll window
    DUE = "due"  # inside the window: roll at this scan
    URGENT = "urgent"  # fewer than `alert_days` to expiry: retried every scan, an alert each time
    EXPIRED = "expired"  # past expiry and not rolled: a critical alert, entries on the instrument blocked


def roll_urgency(instrument: Instrument, held_expiry: date, day: date, *, alert_days: int) -> Urgency:
    """The urgency of rolling a layer held in the contract expiring `held_expiry`, on `day`."""
    if day > held_expiry:
        return Urgency.EXPIRED
    if days_to_expiry(held_expiry, day) < alert_days:
        return Urgency.URGENT
    if in_roll_window(instrument, held_expiry, day):
        return Urgency.DUE
    return Urgency.NOT_DUE


# --- legs --------------------------------------------------------------------------------------------------


@value_class
class Leg:
    """One order of a roll: a symbol, a side and a quantity in units (lots × lot size)."""

    symbol: str
    side: OrderSide
    quantity: int


def close_legs(instrument: Instrument, contract: Contract, *, lots: int, lot_size: int,
               strike: int | None) -> tuple[Leg, ...]:
    """The legs that close `lots` of a long layer held in `contract`.

    A synthetic long (short put, long call) is closed put first: buying the put back before selling the call
    never leaves a naked short put, only a long call, whose loss is bounded by its premium.
    """
    quantity = lots * lot_size
    if instrument.traded_as == "synthetic":
        assert strike is not None, "a synthetic layer knows its strike"
        return (Leg(symbol=contract.option_symbol(strike, "PE"), side=OrderSide.BUY, quantity=quantity),
                Leg(symbol=contract.option_symbol(strike, "CE"), side=OrderSide.SELL, quantity=quantity))
    return (Leg(symbol=contract.future_symbol, side=OrderSide.SELL, quantity=quantity),)


def open_legs(instrument: Instrument, contract: Contract, *, lots: int, lot_size: int,
              strike: int | None) -> tuple[Leg, ...]:
    """The legs that open `lots` of a long layer in `contract`: a synthetic as an entry is (SELL the put, then
    BUY the call, at the new ATM strike), a future as one BUY."""
    quantity = lots * lot_size
    if instrument.traded_as == "synthetic":
        assert strike is not None, "a synthetic opens at an ATM strike"
        return (Leg(symbol=contract.option_symbol(strike, "PE"), side=OrderSide.SELL, quantity=quantity),
                Leg(symbol=contract.option_symbol(strike, "CE"), side=OrderSide.BUY, quantity=quantity))
    return (Leg(symbol=contract.future_symbol, side=OrderSide.BUY, quantity=quantity),)


# --- prices ------------------------------------------------------------------------------------------------


def synthetic_price(strike: int, *, call: float, put: float) -> float:
    """The price of a synthetic long future: strike + call premium − put premium (put-call parity)."""
    return strike + call - put


def roll_spread(old_price: float, new_price: float) -> float:
    """New contract's price minus the old one's, at the fills of the roll."""
    return new_price - old_price


def shifted(layer: Layer, spread: float) -> Layer:
    """`layer` after rolling at `spread`: entry, highest close and both stops move with the contract, so its
    distance to the stop (its risk) is unchanged."""
    return replace(layer, entry_price=layer.entry_price + spread, initial_stop=layer.initial_stop + spread,
                   stop=layer.stop + spread, highest_close=layer.highest_close + spread)


# --- the state machine -------------------------------------------------------------------------------------


@value_class
class RollStep:
    """What a roll does next: its new state, the lots to close in the old contract and to open in the new one
    (at most one of them non-zero), and why."""

    state: RollState
    close_lots: int = 0
    open_lots: int = 0
    reason: str


def next_step(state: RollState, *, old_lots: int, closed_lots: int, opened_lots: int, working: bool) -> RollStep:
    """The roll's next step, from the facts as they are now (never from what the previous step meant to do).

    `old_lots` is what the layer still holds in the old contract; `closed_lots` and `opened_lots` what this roll
    has closed there and opened in the new contract so far. The far leg is sized to what actually closed; a
    partial close leaves old lots that the next step closes; an order still working on the instrument waits.
    """
    if state in (RollState.DONE, RollState.FAILED):
        return RollStep(state=state, reason=f"the roll is {state.value}")
    if working:
        return RollStep(state=state, reason="an order on the instrument is working: the roll waits for it")
    to_open = closed_lots - opened_lots
    if to_open > 0:
        return RollStep(state=RollState.OPENING_NEW, open_lots=to_open,
                        reason=f"{closed_lots} lot(s) closed, {opened_lots} opened: open {to_open} in the new contract")
    if old_lots > 0:
        return RollStep(state=RollState.CLOSING_OLD, close_lots=old_lots,
                        reason=f"{old_lots} lot(s) still in the old contract: close them")
    return RollStep(state=RollState.DONE, reason=f"{opened_lots} lot(s) rolled")
