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

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from basso.config import Config, Instrument
from basso.enums import OrderSide, RollState
from basso.rules.book import Book
from basso.rules.calendars import calendar_for, is_market_open
from basso.rules.contracts import Contract, atm_strike, contract_for, days_to_expiry, in_roll_window
from basso.rules.layers import Layer
from basso.rules.money import commission
from basso.rules.values import value_class
from basso.timeutil import exchange_date

__all__ = [
    "BrokerRollStep",
    "Leg",
    "RollCandidate",
    "RollFacts",
    "RollOrder",
    "RollOrderFact",
    "RollOrderToSend",
    "RollStep",
    "RollStepOutcome",
    "RollStepResult",
    "StepKind",
    "Urgency",
    "apply_roll_step",
    "close_legs",
    "decide_broker_roll_step",
    "decide_roll_step",
    "entry_strike",
    "next_step",
    "open_legs",
    "roll_candidates",
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


@value_class
class RollCandidate:
    """A position's contract and what a scan does about it (also what `dry_run` lists)."""

    instrument: str
    contract: str
    expiry: str
    urgency: Urgency
    action: str  # 'roll', 'wait: ...', or 'none'


def roll_candidates(config: Config, held: Iterable[tuple[str, str, date | None]], now: datetime) -> list[RollCandidate]:
    """Every instrument's nearest held contract (from the open layers' (instrument, contract, expiry)) with its
    urgency on `now`'s exchange date and the action a scan takes."""
    day = exchange_date(now)
    nearest: dict[str, tuple[str, date]] = {}
    for name, contract, expiry in held:
        if expiry is not None and name in config.instruments:
            known = nearest.get(name)
            if known is None or expiry < known[1]:
                nearest[name] = (contract, expiry)
    candidates = []
    for name, (contract, expiry) in sorted(nearest.items()):
        instrument = config.instruments[name]
        urgency = roll_urgency(instrument, expiry, day, alert_days=config.portfolio.expiry_alert_days)
        if urgency is Urgency.NOT_DUE:
            action = "none"
        elif urgency is Urgency.EXPIRED:
            action = "none: past expiry, roll by hand"
        elif not is_market_open(instrument, calendar_for(config, instrument), now):
            action = "wait: the market is closed"
        else:
            action = "roll"
        candidates.append(
            RollCandidate(instrument=name, contract=contract, expiry=expiry.isoformat(), urgency=urgency, action=action)
        )
    return candidates


# --- legs --------------------------------------------------------------------------------------------------


@value_class
class Leg:
    """One order of a roll: a symbol, a side and a quantity in units (lots × lot size)."""

    symbol: str
    side: OrderSide
    quantity: int


def close_legs(
    instrument: Instrument, contract: Contract, *, lots: int, lot_size: int, strike: int | None
) -> tuple[Leg, ...]:
    """The legs that close `lots` of a long layer held in `contract`.

    A synthetic long (short put, long call) is closed put first: buying the put back before selling the call
    never leaves a naked short put, only a long call, whose loss is bounded by its premium.
    """
    quantity = lots * lot_size
    if instrument.traded_as == "synthetic":
        assert strike is not None, "a synthetic layer knows its strike"
        return (
            Leg(symbol=contract.option_symbol(strike, "PE"), side=OrderSide.BUY, quantity=quantity),
            Leg(symbol=contract.option_symbol(strike, "CE"), side=OrderSide.SELL, quantity=quantity),
        )
    return (Leg(symbol=contract.future_symbol, side=OrderSide.SELL, quantity=quantity),)


def open_legs(
    instrument: Instrument, contract: Contract, *, lots: int, lot_size: int, strike: int | None
) -> tuple[Leg, ...]:
    """The legs that open `lots` of a long layer in `contract`: a synthetic as an entry is (SELL the put, then
    BUY the call, at the new ATM strike), a future as one BUY."""
    quantity = lots * lot_size
    if instrument.traded_as == "synthetic":
        assert strike is not None, "a synthetic opens at an ATM strike"
        return (
            Leg(symbol=contract.option_symbol(strike, "PE"), side=OrderSide.SELL, quantity=quantity),
            Leg(symbol=contract.option_symbol(strike, "CE"), side=OrderSide.BUY, quantity=quantity),
        )
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
    return replace(
        layer,
        entry_price=layer.entry_price + spread,
        initial_stop=layer.initial_stop + spread,
        stop=layer.stop + spread,
        highest_close=layer.highest_close + spread,
    )


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
        return RollStep(
            state=RollState.OPENING_NEW,
            open_lots=to_open,
            reason=f"{closed_lots} lot(s) closed, {opened_lots} opened: open {to_open} in the new contract",
        )
    if old_lots > 0:
        return RollStep(
            state=RollState.CLOSING_OLD,
            close_lots=old_lots,
            reason=f"{old_lots} lot(s) still in the old contract: close them",
        )
    return RollStep(state=RollState.DONE, reason=f"{opened_lots} lot(s) rolled")


# --- one step of a roll, applied to the book ---------------------------------------------------------------


class StepKind(StrEnum):
    """What a roll step signal does: close the old contract's legs, or open the new contract's."""

    CLOSE = "close"
    OPEN = "open"


@value_class
class RollOrder:
    """One leg's fill for one layer: its order and what it cost."""

    layer: int
    lots: int
    leg: Leg
    price: float  # the leg's contract price (a synthetic's legs are recorded at the synthetic's price)
    commission: Decimal


@value_class
class RollStepOutcome:
    """A roll step applied: the orders filled, the roll's cost, the book after it and the lots it moved."""

    kind: StepKind
    orders: tuple[RollOrder, ...]
    cost: Decimal  # commissions, as a positive amount (the ledger books it negative, as ROLL_COST)
    lots: int  # closed in the old contract (CLOSE) or opened in the new one (OPEN)
    spread: float
    book: Book


def apply_roll_step(
    *,
    instrument: Instrument,
    kind: StepKind,
    old: Contract,
    new: Contract,
    old_price: float,
    new_price: float,
    old_strikes: Mapping[int, int | None],
    new_strike: int | None,
    lots_to_open: int,
    book: Book,
    commission_pct: float,
    config: Config,
) -> RollStepOutcome:
    """One roll step for every open layer of `instrument` in `book`, filled at `old_price` (CLOSE) or `new_price`
    (OPEN, at most `lots_to_open` lots in all, layer by layer: the far legs are sized to what actually closed).
    `old_strikes` names each layer's synthetic strike (by layer number; futures need none).

    Quantities come from the layers in `book` as they are now. A CLOSE books its commissions and leaves the
    layers as they are (the position is between contracts); an OPEN shifts each rolled layer by the spread
    (`shifted`) and moves the instrument's mark to the new contract's price, so neither open P&L nor the risk
    distance jumps at the roll.
    """
    layers = [x for x in book.layers if x.instrument == instrument.name]
    spread = roll_spread(old_price, new_price)
    orders: list[RollOrder] = []
    moved = 0
    rolled: dict[int, Layer] = {}
    remaining = lots_to_open
    for layer in layers:
        lots = layer.lots if kind is StepKind.CLOSE else min(layer.lots, remaining)
        if lots <= 0:
            continue
        lot_size = round(layer.point_value * instrument.quote_unit)
        price = old_price if kind is StepKind.CLOSE else new_price
        legs = (
            close_legs(instrument, old, lots=lots, lot_size=lot_size, strike=old_strikes.get(layer.layer))
            if kind is StepKind.CLOSE
            else open_legs(instrument, new, lots=lots, lot_size=lot_size, strike=new_strike)
        )
        # One commission per layer and side, on the position's notional, as entries and exits are charged.
        cost = commission(price, lots, layer.point_value, commission_pct)
        for n, leg in enumerate(legs):
            orders.append(
                RollOrder(layer=layer.layer, lots=lots, leg=leg, price=price, commission=cost if n == 0 else Decimal(0))
            )
        moved += lots
        if kind is StepKind.OPEN:
            remaining -= lots
            rolled[layer.layer] = shifted(layer, spread)
    cost_total = sum((o.commission for o in orders), Decimal(0))
    closed = book.closed_equity - cost_total
    new_layers = tuple(rolled.get(x.layer, x) if x.instrument == instrument.name else x for x in book.layers)
    price_marks = dict(book.price)
    if kind is StepKind.OPEN and rolled:
        price_marks[instrument.name] = new_price
    after = replace(
        book,
        closed_equity=closed,
        high_water=max(book.high_water, closed),
        layers=new_layers,
        price=price_marks,
        version=book.version + 1,
    ).with_peak(config)
    return RollStepOutcome(kind=kind, orders=tuple(orders), cost=cost_total, lots=moved, spread=spread, book=after)


@value_class
class RollFacts:
    """A stored roll as the step rules need it: its state, its counters, its contracts and the quotes it fills at."""

    instrument: str
    state: RollState
    closed_lots: int
    opened_lots: int
    old_expiry: date
    new_expiry: date
    old_price: float
    new_price: float
    new_strike: int | None


@value_class
class RollStepResult:
    """A roll step decided and filled: what it did, the transitions it passes (each with its reason) and the
    roll's counters after it."""

    outcome: RollStepOutcome
    transitions: tuple[tuple[RollState, RollState, str], ...]
    closed_lots: int
    opened_lots: int


def entry_strike(instrument: Instrument, layer: Layer) -> int | None:
    """A synthetic layer whose strike was not recorded: the ATM strike of its entry price (where it was opened)."""
    if instrument.traded_as != "synthetic" or not instrument.strike_step:
        return None
    return atm_strike(layer.entry_price, instrument.strike_step)


def decide_roll_step(
    roll: RollFacts, book: Book, config: Config, *, strikes: Mapping[int, int | None]
) -> RollStepResult | None:
    """The step the facts call for (`next_step`, quantities from `book` now), filled whole at the roll's quotes by
    the paper broker; None when there is nothing to do. `strikes` are the layers' recorded strikes (a layer not
    named, or None, is taken at its entry's ATM strike)."""
    instrument = config.instrument(roll.instrument)
    layers = [x for x in book.layers if x.instrument == roll.instrument]
    lots = sum(x.lots for x in layers)
    step = next_step(
        roll.state,
        old_lots=lots - roll.closed_lots,
        closed_lots=roll.closed_lots,
        opened_lots=roll.opened_lots,
        working=False,
    )
    if step.close_lots == 0 and step.open_lots == 0:
        return None
    kind = StepKind.CLOSE if step.close_lots else StepKind.OPEN
    old_strikes = {x.layer: strikes.get(x.layer) or entry_strike(instrument, x) for x in layers}
    outcome = apply_roll_step(
        instrument=instrument,
        kind=kind,
        old=contract_for(instrument, roll.old_expiry),
        new=contract_for(instrument, roll.new_expiry),
        old_price=roll.old_price,
        new_price=roll.new_price,
        old_strikes=old_strikes,
        new_strike=roll.new_strike,
        lots_to_open=step.open_lots,
        book=book,
        commission_pct=config.paper.commission_pct,
        config=config,
    )
    closed = roll.closed_lots + (outcome.lots if kind is StepKind.CLOSE else 0)
    opened = roll.opened_lots + (outcome.lots if kind is StepKind.OPEN else 0)
    transitions = [(roll.state, step.state, step.reason)]
    after = next_step(step.state, old_lots=lots - closed, closed_lots=closed, opened_lots=opened, working=False)
    if after.state is RollState.DONE:
        transitions.append((step.state, RollState.DONE, after.reason))
    return RollStepResult(outcome=outcome, transitions=tuple(transitions), closed_lots=closed, opened_lots=opened)


# --- a roll through a real broker: each step's orders are worked at the broker, the next step reads the fills ---


@value_class
class RollOrderFact:
    """One order of a roll through a real broker, as stored: the layer it is for, whether it closes the old contract
    (or opens the new one), what it asked for and what filled, at what average price."""

    layer: int
    closing: bool
    lots: int
    filled: int
    average: float | None
    done: bool  # filled, rejected or cancelled: it will fill no more
    reason: str  # the broker's words on a reject or cancel
    step: int  # the step signal's row that committed it


@value_class
class RollOrderToSend:
    """An order a broker roll step commits `pending`, for the order desk to work: `lots` of `layer`, closing the old
    contract or opening the new one, at the roll's quote (the desk prices it from the market)."""

    layer: int
    closing: bool
    lots: int
    price: float


@value_class
class BrokerRollStep:
    """A broker roll step decided: the transitions it passes, the orders it sends, and — once everything closed has
    opened again — the layers shifted into the new contract and the mark re-based (`book` after it). `alert` says
    why the roll failed, if it did."""

    transitions: tuple[tuple[RollState, RollState, str], ...]
    state: RollState
    reason: str
    orders: tuple[RollOrderToSend, ...]
    closed_lots: int
    opened_lots: int
    shifted: tuple[Layer, ...]
    mark: float | None
    book: Book
    alert: str | None = None


def _average(orders: Iterable[RollOrderFact]) -> float:
    filled = [(o.filled, o.average) for o in orders if o.filled and o.average is not None]
    lots = sum(n for n, _ in filled)
    return sum(n * price for n, price in filled) / lots if lots else 0.0


def decide_broker_roll_step(roll: RollFacts, orders: Iterable[RollOrderFact], book: Book) -> BrokerRollStep:
    """The next step of a roll whose legs a real broker fills, from what its orders actually filled.

    Closing orders are sent for the lots each layer still holds in the old contract; opening orders for what each
    layer closed and has not opened again (the far legs are sized to what actually closed, so a partial fill of a
    near leg leaves a remainder the next step closes). Once every lot closed has opened and none is left in the old
    contract, each layer shifts by its own spread — the average price it opened at in the new contract minus the
    average it closed at in the old one — so its distance to the stop is unchanged (`shifted`). A step whose orders
    all ended with nothing filled (the broker refused them) fails the roll: it would be refused again."""
    facts = tuple(orders)
    layers = [x for x in book.layers if x.instrument == roll.instrument]
    closed = {x.layer: sum(o.filled for o in facts if o.closing and o.layer == x.layer) for x in layers}
    opened = {x.layer: sum(o.filled for o in facts if not o.closing and o.layer == x.layer) for x in layers}
    total_closed, total_opened = sum(closed.values()), sum(opened.values())
    held = sum(x.lots for x in layers)
    waiting = BrokerRollStep(
        transitions=(),
        state=roll.state,
        reason="its orders are still working at the broker: the roll waits for them",
        orders=(),
        closed_lots=total_closed,
        opened_lots=total_opened,
        shifted=(),
        mark=None,
        book=replace(book, version=book.version + 1),
    )

    def moved(state: RollState, reason: str) -> BrokerRollStep:
        return replace(waiting, transitions=((roll.state, state, reason),), state=state, reason=reason)

    if any(not o.done for o in facts):
        return waiting
    newest = max((o.step for o in facts), default=None)
    last = [o for o in facts if o.step == newest]
    if last and not any(o.filled for o in last):
        side = "close the old contract" if last[0].closing else "open the new contract"
        words = "; ".join(sorted({o.reason for o in last if o.reason})) or "nothing filled"
        reason = (
            f"the broker filled nothing of the orders to {side} ({words}): {total_opened} of {held} lot(s) rolled, "
            f"{held - total_closed} still in the old contract; roll the rest by hand"
        )
        return replace(moved(RollState.FAILED, reason), alert=reason)
    step = next_step(
        roll.state, old_lots=held - total_closed, closed_lots=total_closed, opened_lots=total_opened, working=False
    )
    if step.open_lots:
        sends = tuple(
            RollOrderToSend(layer=x.layer, closing=False, lots=closed[x.layer] - opened[x.layer], price=roll.new_price)
            for x in layers
            if closed[x.layer] > opened[x.layer]
        )
        return replace(moved(step.state, step.reason), orders=sends)
    if step.close_lots:
        sends = tuple(
            RollOrderToSend(layer=x.layer, closing=True, lots=x.lots - closed[x.layer], price=roll.old_price)
            for x in layers
            if x.lots > closed[x.layer]
        )
        return replace(moved(step.state, step.reason), orders=sends)
    if step.state is not RollState.DONE:
        return moved(step.state, step.reason)
    rolled = {
        x.layer: shifted(
            x,
            _average(o for o in facts if not o.closing and o.layer == x.layer)
            - _average(o for o in facts if o.closing and o.layer == x.layer),
        )
        for x in layers
    }
    mark = _average(o for o in facts if not o.closing)
    after = replace(
        waiting.book,
        layers=tuple(rolled.get(x.layer, x) if x.instrument == roll.instrument else x for x in book.layers),
        price={**book.price, roll.instrument: mark} if rolled else book.price,
    )
    return replace(
        moved(RollState.DONE, step.reason), shifted=tuple(rolled.values()), mark=mark if rolled else None, book=after
    )
