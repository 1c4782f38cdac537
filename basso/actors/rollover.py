"""RolloverScanner: the contract calendar and the roll state machines (docs/rules.md §7; sql/009).

A `Scan` (the hourly timer in market hours, `POST /api/rollover`, `basso roll`) looks at every open position's
contract: inside its roll window (and in market hours) a roll starts — a `pending` row with its reason and its
first step, a stored signal of kind ROLL. From two days before expiry each scan raises a warning while the
position is not rolled; past expiry, a critical alert.

Each step is applied in the SignalReceiver's order like any other signal (so nothing else for the instrument is
decided between two steps): the receiver hands it here with the book; the step reads the quantities from the
book *now*, asks the pure rules for the next transition (`next_step`), fills the legs and sends the outcome —
the transitions with their reasons, the layers shifted into the new contract, the orders, the roll's cost and
the next step's signal — to the Persister, which commits it in one fenced transaction. A crash anywhere leaves
either the whole step or none of it, and the step signal pending: it is applied again from the facts.

Orders: on the paper broker every leg fills inside the step's transaction, at the quotes the roll started with
(`quote`); the legs are built in `_fill` only. Through a real broker (OpenAlgo) a step commits its orders
`pending` instead (one per layer: the old contract's lots to close, or what closed to open in the new one), the
order desk works them like any other order, and the instrument's other signals wait meanwhile (sql/014); when the
last of them is done the next step is stored, and it reads what actually filled (`decide_broker_roll_step`): the
far legs are sized to what closed, the layers shift by the spread between the fills, and a step the broker refused
entirely fails the roll with a critical alert.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.config import Config, Instrument
from basso.enums import AlertLevel, OrderSide, RollState
from basso.messages import Decide, PersisterInbox, RolloverInbox, RollSettled, Scan
from basso.rules.alert import Alert
from basso.rules.book import Book
from basso.rules.calendars import calendar_for
from basso.rules.contracts import atm_strike, entry_contract
from basso.rules.layers import Layer
from basso.rules.money import to_money
from basso.rules.rollover import (
    RollCandidate,
    RollFacts,
    RollStepOutcome,
    RollStepResult,
    StepKind,
    Urgency,
    decide_broker_roll_step,
    decide_roll_step,
    next_step,
    roll_candidates,
)
from basso.rules.settlement import stored_price
from basso.store.alerts import raise_alert
from basso.store.book import load_book
from basso.store.fence import FenceLost
from basso.store.orders import instruments_with_working_orders
from basso.store.rolls import (
    HeldContract,
    NewRoll,
    Roll,
    held_contracts,
    load_roll,
    roll_orders,
    start_roll,
    step_key,
    step_payload,
)
from basso.timeutil import exchange_date

__all__ = ["Quote", "RolloverContext", "RolloverScanner", "paper_quote"]

log = logging.getLogger(__name__)

# The price of `instrument`'s contract expiring as given, knowing the old contract's mark.
Quote = Callable[[Instrument, datetime, float], float]


def paper_quote(_instrument: Instrument, _expiry: object, mark: float) -> float:
    """The paper broker's quote for the next contract: the old one's mark (no carry; a test injects its own)."""
    return mark


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloverContext:
    """The pool, the configuration, the Persister, the epoch, the next contract's quote and the receiver's wake."""

    pool: asyncpg.Pool
    config: Config
    persister: ActorRef[PersisterInbox]
    epoch: Callable[[], int]
    quote: Callable[[Instrument, Any, float], float] = paper_quote
    wake: Callable[[], None] = lambda: None  # a roll's first step was stored: wake the SignalReceiver
    broker: str = "paper"  # where orders go: the paper broker fills a step's legs at once (see above)
    # A real broker's last price for a contract symbol (None: it could not say); the new contract's price, and a
    # synthetic's new ATM strike, come from it when there is one.
    last_price: Callable[[Instrument, str], Awaitable[float | None]] | None = None


class RolloverScanner(DatabaseActor[RolloverInbox]):
    """Starts due rolls on a `Scan`; applies a roll step handed over by the SignalReceiver."""

    def __init__(self, context: RolloverContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: RolloverInbox) -> None:
        match message:
            case Scan():
                await self._scan(message)
            case Decide():
                await self._step(message)

    # --- scans ---------------------------------------------------------------------------------------------

    async def _scan(self, message: Scan) -> None:
        context = self.context
        config = context.config
        held = await self.db.run(held_contracts, what="rollover: contracts")
        book = await self.db.run(lambda conn: load_book(conn, config), what="rollover: book")
        candidates = roll_candidates(config, [(h.instrument, h.contract, h.expiry) for h in held], message.now)
        log.info(
            "rollover scan at %s: %s",
            message.now.isoformat(),
            ", ".join(f"{c.instrument} {c.contract} {c.urgency.value}: {c.action}" for c in candidates)
            or "no position",
        )
        busy = await self.db.run(instruments_with_working_orders, what="rollover: working orders")
        for candidate in candidates:
            if candidate.urgency in (Urgency.URGENT, Urgency.EXPIRED):
                await self._escalate(candidate, message.now)
            if candidate.action != "roll":
                continue
            if candidate.instrument in busy:
                log.info("roll of %s waits: an order on it is working", candidate.instrument)
                continue
            new_roll = await self._plan(candidate, book, message.now)
            try:
                roll_id = await self.db.run(
                    partial(start_roll, epoch=message.epoch, at=message.now, roll=new_roll), what="rollover: start"
                )
            except FenceLost as exc:
                log.warning("rollover scan abandoned: %s", exc)
                return
            if roll_id is not None:
                log.info("roll %d started: %s", roll_id, new_roll.reason)
            context.wake()  # a new roll's first step, or a retried step, may be waiting

    async def _plan(self, candidate: RollCandidate, book: Book, now: datetime) -> NewRoll:
        context = self.context
        config = context.config
        instrument = config.instruments[candidate.instrument]
        new = entry_contract(instrument, calendar_for(config, instrument), exchange_date(now)).contract
        mark = book.price.get(instrument.name) or next(
            x.entry_price for x in book.layers if x.instrument == instrument.name
        )
        live = None if context.last_price is None else await context.last_price(instrument, new.future_symbol)
        new_price = stored_price(live if live is not None else context.quote(instrument, new.expiry, mark))
        new_strike = (
            atm_strike(new_price, instrument.strike_step)
            if instrument.traded_as == "synthetic" and instrument.strike_step
            else None
        )
        reason = (
            f"{candidate.contract} expires {candidate.expiry} ({candidate.urgency.value}): roll into "
            f"{new.future_symbol}" + (f" at strike {new_strike}" if new_strike is not None else "")
        )
        return NewRoll(
            instrument=instrument.name,
            old_contract=candidate.contract,
            old_expiry=datetime.fromisoformat(candidate.expiry).date(),
            new_contract=new.future_symbol,
            new_expiry=new.expiry,
            new_strike=new_strike,
            old_price=Decimal(str(stored_price(mark))),
            new_price=Decimal(str(new_price)),
            reason=reason,
        )

    async def _escalate(self, candidate: RollCandidate, now: datetime) -> None:
        expired = candidate.urgency is Urgency.EXPIRED
        text = f"{candidate.instrument} {candidate.contract} " + (
            f"is past its expiry {candidate.expiry} and not rolled: roll or close it by hand"
            if expired
            else f"expires {candidate.expiry} and is not rolled yet: retried every scan"
        )
        await self.db.run(
            partial(
                raise_alert,
                at=now,
                level=AlertLevel.CRITICAL if expired else AlertLevel.WARNING,
                kind="roll_expired" if expired else "roll_due",
                message=text,
                instrument=candidate.instrument,
                detail={"contract": candidate.contract, "expiry": candidate.expiry},
            ),
            what="rollover: alert",
        )

    # --- steps ---------------------------------------------------------------------------------------------

    async def _step(self, message: Decide) -> None:
        pending, book = message.pending, message.book
        roll_id = int(pending.payload["roll"])
        step_number = int(pending.payload.get("step", 1))
        roll = await self.db.run(partial(load_roll, roll_id=roll_id), what="rollover: roll")
        if roll is None:
            raise LookupError(f"roll step {pending.key} names roll {roll_id}, which is not stored")
        if self.context.broker != "paper":
            await self._broker_step(message, roll, book)
            return
        held = await self.db.run(held_contracts, what="rollover: contracts")  # the paper legs' strikes
        filled = self._fill(roll, book, held)
        record: dict[str, Any] = {"roll": roll.id, "step": step_number}
        if filled is None:
            # Nothing to close or open: the position was closed meanwhile (or the roll is over already).
            lots = sum(x.lots for x in book.layers if x.instrument == roll.instrument)
            step = next_step(
                roll.state,
                old_lots=lots - roll.closed_lots,
                closed_lots=roll.closed_lots,
                opened_lots=roll.opened_lots,
                working=False,
            )
            ended = [(roll.state, step.state, step.reason)] if step.state is not roll.state else []
            changes = _changes(roll, book, None, ended, next_signal=None)
            reason = f"roll {roll.id}: {step.reason}"
            after = replace(book, version=book.version + 1)
        else:
            result, transitions = filled.outcome, list(filled.transitions)
            record |= {
                "kind": result.kind.value,
                "lots": result.lots,
                "spread": result.spread,
                "cost": str(result.cost),
            }
            more = transitions[-1][1] not in (RollState.DONE, RollState.FAILED)
            next_signal = (
                {
                    "key": step_key(roll.id, step_number + 1),
                    "payload": step_payload(roll.id, roll.instrument, step_number + 1),
                }
                if more
                else None
            )
            changes = _changes(
                roll, book, result, transitions, next_signal=next_signal, step=(filled.closed_lots, filled.opened_lots)
            )
            reason = "; ".join(t[2] for t in transitions)
            after = result.book
        await self.send(
            self.context.persister,
            RollSettled.following(message, pending=pending, reason=reason, record=record, changes=changes, book=after),
        )

    async def _broker_step(self, message: Decide, roll: Roll, book: Book) -> None:
        """A step of a roll through a real broker: from what the roll's orders filled, the next orders to send (sent
        once committed), or the layers shifted into the new contract, or the roll failed."""
        pending = message.pending
        config = self.context.config
        instrument = config.instrument(roll.instrument)
        orders = await self.db.run(partial(roll_orders, roll_id=roll.id), what="rollover: orders")
        step = decide_broker_roll_step(_facts(roll), orders, book)
        layers = {x.layer: x for x in book.layers if x.instrument == roll.instrument}
        working = [
            {
                "layer": o.layer,
                "side": (OrderSide.SELL if o.closing else OrderSide.BUY).value,
                "lots": o.lots,
                "quantity": o.lots * round(layers[o.layer].point_value * instrument.quote_unit),
                "symbol": roll.old_contract if o.closing else roll.new_contract,
                "price": _price(o.price),
            }
            for o in step.orders
        ]
        changes = _changes(roll, book, None, list(step.transitions), next_signal=None)
        changes |= {"broker": self.context.broker, "closed_lots": step.closed_lots, "opened_lots": step.opened_lots}
        if step.shifted:
            changes["layers"] = _shifted(roll, step.shifted)
            assert step.mark is not None
            changes["mark"] = {"instrument": roll.instrument, "price": _price(step.mark)}
        alerts = () if step.alert is None else (_roll_failed(roll, step.alert),)
        await self.send(
            self.context.persister,
            RollSettled.following(
                message,
                pending=pending,
                reason=f"roll {roll.id}: {step.reason}",
                record={"roll": roll.id, "step": int(pending.payload.get("step", 1)), "orders": len(working)},
                changes=changes,
                book=step.book,
                working=tuple(working),
                alerts=alerts,
            ),
        )

    def _fill(self, roll: Roll, book: Book, held: list[HeldContract]) -> RollStepResult | None:
        """The step the facts call for, filled (the pure rules: the paper broker fills every leg whole at the roll's
        quotes). The one place a roll makes orders: the two-step order path replaces it."""
        return decide_roll_step(
            _facts(roll),
            book,
            self.context.config,
            strikes={h.layer: h.strike for h in held if h.instrument == roll.instrument},
        )


def _facts(roll: Roll) -> RollFacts:
    return RollFacts(
        instrument=roll.instrument,
        state=roll.state,
        closed_lots=roll.closed_lots,
        opened_lots=roll.opened_lots,
        old_expiry=roll.old_expiry,
        new_expiry=roll.new_expiry,
        old_price=float(roll.old_price),
        new_price=float(roll.new_price),
        new_strike=roll.new_strike,
    )


def _roll_failed(roll: Roll, reason: str) -> Alert:
    return Alert(
        level=AlertLevel.CRITICAL,
        kind="roll_failed",
        instrument=roll.instrument,
        message=f"roll {roll.id} of {roll.instrument} ({roll.old_contract} into {roll.new_contract}) failed: {reason}",
        detail={"roll": roll.id, "old_contract": roll.old_contract, "new_contract": roll.new_contract},
    )


def _shifted(roll: Roll, layers: Iterable[Layer]) -> list[dict[str, Any]]:
    """The layers moved into the roll's new contract, as basso_commit_roll_step (sql/009) writes them."""
    return [
        {
            "layer": x.layer,
            "entry": _price(x.entry_price),
            "initial_stop": _price(x.initial_stop),
            "stop": _price(x.stop),
            "highest": _price(x.highest_close),
            "contract": roll.new_contract,
            "expiry": roll.new_expiry.isoformat(),
            "strike": roll.new_strike,
        }
        for x in layers
    ]


def _price(value: float) -> str:
    return str(Decimal(str(stored_price(value))))


def _changes(
    roll: Roll,
    book: Book,
    result: RollStepOutcome | None,
    transitions: list[tuple[RollState, RollState, str]],
    *,
    next_signal: dict[str, Any] | None,
    step: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The JSON basso_commit_roll_step (sql/009) reads."""
    closed, opened = step if step is not None else (roll.closed_lots, roll.opened_lots)
    state = transitions[-1][1] if transitions else roll.state
    changes: dict[str, Any] = {
        "roll": roll.id,
        "instrument": roll.instrument,
        "state": state.value,
        "closed_lots": closed,
        "opened_lots": opened,
        "reason": transitions[-1][2] if transitions else roll.reason,
        "transitions": [{"from": a.value, "to": b.value, "reason": why} for a, b, why in transitions],
        "layers": [],
        "orders": [],
        "cost": "0",
        "cost_note": "",
        "mark": None,
        "next_signal": next_signal,
        "day": None,
        "day_peak": "0",
    }
    day, peak = (result.book if result else book).peak_to_store
    changes |= {"day": day.isoformat() if day is not None else None, "day_peak": str(to_money(round(peak, 2)))}
    if result is None:
        return changes
    changes["orders"] = [
        {
            "layer": o.layer,
            "symbol": o.leg.symbol,
            "side": o.leg.side.value,
            "lots": o.lots,
            "quantity": o.leg.quantity,
            "price": _price(o.price),
            "commission": str(o.commission),
        }
        for o in result.orders
    ]
    changes["cost"] = str(result.cost)
    changes["cost_note"] = f"roll {roll.id} of {roll.instrument}, {result.kind.value} {result.lots} lot(s)"
    if result.kind is StepKind.OPEN:
        rolled = {o.layer for o in result.orders}
        changes["layers"] = _shifted(
            roll, (x for x in result.book.layers if x.instrument == roll.instrument and x.layer in rolled)
        )
        changes["mark"] = {"instrument": roll.instrument, "price": _price(float(roll.new_price))}
    return changes
