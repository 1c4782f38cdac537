"""What Basso does with one signal, given the book: the whole decision, as a pure function.

`decide` composes the pure rules (sizing, zones, drawdown, pyramid gates, stops, peel-off, emergency exits)
into one `Decision`: its outcome, a one-line reason, the numbers behind it (stored with the signal so every
decision is explainable afterwards), and the entries and exits to execute. The live actors and the
backtest both call it, so "the backtest is the live logic" is true by construction.

Exits, stops and peel-offs are never blocked by the kill switch, a zone or a drawdown rule.
"""

from __future__ import annotations

from dataclasses import field
from datetime import date
from typing import Any

from basso.config import Config, Instrument
from basso.enums import AlertLevel, SignalOutcome
from basso.rules.alert import Alert
from basso.rules.book import Book, Mark
from basso.rules.equity import DrawdownAllowance, drawdown_allowance
from basso.rules.layers import BASE_LAYER, Layer
from basso.rules.portfolio import PortfolioMeasures, above, measure_portfolio
from basso.rules.pyramid import GATE_WORDS, decide_pyramid
from basso.rules.signals import MarketData, Signal, SignalError, SignalType, TradingSignal, signal_from_object
from basso.rules.sizing import entry_stop, size_base_entry
from basso.rules.stops import emergency_exits, peel_off, trail
from basso.rules.values import value_class
from basso.timeutil import IST, exchange_date

__all__ = ["Alert", "Decision", "Entry", "Exit", "StopMove", "decide"]


@value_class
class Entry:
    """Open a new layer."""

    instrument: str
    layer: int
    lots: int
    price: float
    stop: float
    atr: float
    point_value: float
    margin_per_lot: float


@value_class
class Exit:
    """Close `lots` of an open layer (all of them, or part for a peel-off)."""

    instrument: str
    layer: int
    lots: int
    price: float
    point_value: float  # the layer's own, fixed at its entry
    reason: str


@value_class
class StopMove:
    """A layer's trailed stop and highest close after a bar."""

    instrument: str
    layer: int
    stop: float
    highest_close: float


@value_class
class Decision:
    """The outcome of one signal and everything needed to carry it out and explain it."""

    outcome: SignalOutcome
    reason: str
    record: dict[str, Any] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    exits: tuple[Exit, ...] = ()
    stop_moves: tuple[StopMove, ...] = ()
    mark: Mark | None = None  # the newest observation; None for a rejected signal, which changes nothing
    alerts: tuple[Alert, ...] = ()
    day: date | None = None  # the signal's exchange day: the drawdown window's today (None without a window)


def decide(signal: Signal, book: Book, config: Config) -> Decision:
    """The decision for `signal` against `book` (which must include every earlier signal).

    Every valid signal's price marks its instrument (an exit's too, for the layers it leaves open); a
    rejected one changes nothing, not even the mark (docs/rules.md §2).
    """
    peak_days = config.drawdown.peak_days
    day = exchange_date(signal.timestamp) if peak_days else None  # only a window needs to know the day
    if day is not None:
        book = book.on_day(day, peak_days)
    if isinstance(signal, MarketData):
        decision = _bar(signal, book, config)
    elif signal.type is SignalType.EXIT:
        decision = _exit(signal, book)
    else:
        decision = _entry(signal, book, config)
    if day is None:
        return decision
    return Decision(
        outcome=decision.outcome,
        reason=decision.reason,
        record=decision.record,
        entries=decision.entries,
        exits=decision.exits,
        stop_moves=decision.stop_moves,
        mark=decision.mark,
        alerts=decision.alerts,
        day=day,
    )


def _entry(signal: TradingSignal, book: Book, config: Config) -> Decision:
    """A base entry or a pyramid: refused outright if its layer is open or its price is outside the collar."""
    assert signal.atr is not None  # the parser guarantees an ATR on every entry
    instrument = config.instrument(signal.instrument)
    if book.layer(instrument.name, signal.layer or 0) is not None:
        return Decision(outcome=SignalOutcome.REJECTED, reason=f"{instrument.name} {signal.position} is already open")
    outside = _outside_collar(instrument, signal.price, book.fresh_mark(instrument.name, signal.timestamp))
    if outside is not None:
        return Decision(
            outcome=SignalOutcome.REJECTED,
            reason=f"rejected: {outside}",
            alerts=(
                Alert(
                    level=AlertLevel.WARNING,
                    kind="price_collar",
                    instrument=instrument.name,
                    message=f"{signal.type.value} {instrument.name} {signal.position} rejected: {outside}",
                    detail={"price": signal.price, "mark": book.price[instrument.name]},
                ),
            ),
        )
    marked = book.marked(instrument.name, price=signal.price, atr=signal.atr)
    if signal.type is SignalType.BASE_ENTRY:
        decision = _base_entry(signal, marked, config)
    else:
        decision = _pyramid(signal, marked, config)
    mark = Mark(instrument=instrument.name, price=signal.price, atr=signal.atr, at=signal.timestamp, bar=False)
    return Decision(
        outcome=decision.outcome, reason=decision.reason, record=decision.record, entries=decision.entries, mark=mark
    )


def _outside_collar(instrument: Instrument, price: float, mark: float | None) -> str | None:
    """Why `price` is outside the instrument's price collar around `mark` (docs/rules.md §2), or None if inside it or
    there is no recent mark to hold it against."""
    if mark is None or mark <= 0:
        return None
    away = abs(price - mark) / mark * 100.0
    if not above(away, instrument.price_collar_pct):
        return None
    return (
        f"price {price:g} is {away:.2f}% from the latest mark {mark:g}, "
        f"outside the {instrument.price_collar_pct:g}% price collar"
    )


def decide_payload(payload: dict[str, Any], book: Book, config: Config) -> Decision:
    """The decision for a stored signal's payload, read back under the current configuration: one that the
    configuration now refuses (an instrument removed, say) is rejected, not crashed."""
    try:
        signal = signal_from_object(payload, config)
    except SignalError as exc:
        return Decision(outcome=SignalOutcome.REJECTED, reason=f"invalid under the current configuration: {exc}")
    return decide(signal, book, config)


def _portfolio_record(measures: PortfolioMeasures, drawdown_pct: float) -> dict[str, Any]:
    return {
        "equity": round(measures.equity, 2),
        "risk_pct": round(measures.risk_pct, 4),
        "vol_pct": round(measures.vol_pct, 4),
        "margin_used": round(measures.margin_used, 2),
        "risk_zone": measures.risk_zone.value,
        "vol_zone": measures.vol_zone.value,
        "drawdown_pct": round(drawdown_pct, 4),
    }


def _blocked(reason: str, record: dict[str, Any], by: str) -> Decision:
    """A blocked decision; `by` names the rule that said no in words ("the 1R gate", "0 lots, risk-limited"),
    recorded as `blocked_by` so blocks of one kind can be counted without parsing reasons."""
    return Decision(outcome=SignalOutcome.BLOCKED, reason=reason, record=record | {"blocked_by": by})


@value_class
class _Allowed:
    """The portfolio's figures and what the drawdown rules allow, for a signal that would add exposure."""

    measures: PortfolioMeasures
    allowance: DrawdownAllowance
    record: dict[str, Any]


def _may_add_exposure(book: Book, config: Config, *, pyramid: bool) -> _Allowed | Decision:
    """The kill switch, the drawdown rules and the zones, checked before a base entry or a pyramid is sized;
    a blocked decision (with the figures) if one of them says no."""
    measures = measure_portfolio(book.snapshot(config), config.portfolio)
    allowance = drawdown_allowance(book.drawdown_at(measures.equity), config.drawdown)
    record = _portfolio_record(measures, allowance.drawdown_pct)
    if book.kill_switch:
        return _blocked("kill switch is on", record, "the kill switch")
    if not (allowance.pyramids_allowed if pyramid else allowance.base_entries_allowed):
        return _blocked(allowance.reason, record, "the drawdown rules")
    permitted = measures.permissions.pyramids_allowed if pyramid else measures.permissions.new_positions_allowed
    if not permitted:
        what = "pyramids" if pyramid else "positions"
        return _blocked(
            f"no new {what} in the {measures.risk_zone} risk / {measures.vol_zone} volatility zone",
            record,
            "the risk and volatility zones",
        )
    return _Allowed(measures=measures, allowance=allowance, record=record)


def _base_entry(signal: TradingSignal, book: Book, config: Config) -> Decision:
    instrument = config.instrument(signal.instrument)
    allowed = _may_add_exposure(book, config, pyramid=False)
    if isinstance(allowed, Decision):
        return allowed
    measures, record = allowed.measures, allowed.record
    assert signal.atr is not None
    assert signal.er is not None
    point_value = instrument.point_value_on(exchange_date(signal.timestamp))
    sizing = size_base_entry(
        instrument=instrument,
        rules=config.portfolio,
        equity=measures.equity,
        price=signal.price,
        signal_stop=signal.stop,
        atr=signal.atr,
        er=signal.er,
        margin_used=measures.margin_used,
        open_risk=measures.open_risk,
        open_volatility=measures.volatility,
        point_value=point_value,
        risk_multiplier=allowed.allowance.risk_multiplier,
        size_factor=measures.permissions.new_size_factor,
    )
    record |= {
        "lot_r": round(sizing.lot_r, 4),
        "lot_v": round(sizing.lot_v, 4),
        "lot_m": round(sizing.lot_m, 4),
        "lots": sizing.lots,
        "limiter": sizing.limiter,
        "stop": sizing.stop,
        "point_value": point_value,
        "suggested_lots": signal.lots,
    }
    if sizing.lots == 0:
        return _blocked(sizing.reason, record, f"sizing ({sizing.reason.split(' (')[0]})")
    entry = Entry(
        instrument=instrument.name,
        layer=BASE_LAYER,
        lots=sizing.lots,
        price=signal.price,
        stop=sizing.stop,
        atr=signal.atr,
        point_value=point_value,
        margin_per_lot=instrument.margin_per_lot,
    )
    return Decision(outcome=SignalOutcome.EXECUTED, reason=sizing.reason, record=record, entries=(entry,))


def _pyramid(signal: TradingSignal, book: Book, config: Config) -> Decision:
    instrument = config.instrument(signal.instrument)
    assert signal.layer is not None
    assert signal.atr is not None
    allowed = _may_add_exposure(book, config, pyramid=True)
    if isinstance(allowed, Decision):
        return allowed
    record = allowed.record
    stop = entry_stop(
        price=signal.price, signal_stop=signal.stop, atr=signal.atr, instrument=instrument, rules=config.portfolio
    )
    point_value = instrument.point_value_on(exchange_date(signal.timestamp))
    pyramid = decide_pyramid(
        snapshot=book.snapshot(config),
        instrument=instrument,
        rules=config.pyramid,
        portfolio=config.portfolio,
        price=signal.price,
        stop=stop,
        atr=signal.atr,
        point_value=point_value,
    )
    record |= {
        "gates": [{"gate": g.name, "passed": g.passed, "reason": g.reason} for g in pyramid.gates],
        "lots": pyramid.lots,
        "stop": stop,
        "point_value": point_value,
        "suggested_lots": signal.lots,
    }
    if pyramid.size is not None:
        size = pyramid.size
        record |= {
            "a_margin": round(size.a_margin, 4),
            "b_discipline": round(size.b_discipline, 4),
            "c_profit_budget": round(size.c_profit_budget, 4),
            "d_headroom": round(size.d_headroom, 4),
            "limiter": size.limiter,
        }
    if pyramid.lots == 0:
        failed = [GATE_WORDS[g.name] for g in pyramid.gates if not g.passed]
        by = (
            f"the {' and '.join(failed)} gate{'s' if len(failed) > 1 else ''}"
            if failed
            else f"sizing ({pyramid.reason.split(' (')[0]})"
        )
        return _blocked(pyramid.reason, record, by)
    entry = Entry(
        instrument=instrument.name,
        layer=signal.layer,
        lots=pyramid.lots,
        price=signal.price,
        stop=stop,
        atr=signal.atr,
        point_value=point_value,
        margin_per_lot=instrument.margin_per_lot,
    )
    return Decision(outcome=SignalOutcome.EXECUTED, reason=pyramid.reason, record=record, entries=(entry,))


def _exit(signal: TradingSignal, book: Book) -> Decision:
    # The exit's price marks what stays open of the instrument; its ATR (optional on an exit) is the newest
    # only when given. With no ATR known at all (nothing was ever open), there is nothing to mark.
    atr = signal.atr if signal.atr else book.atr.get(signal.instrument)
    mark = (
        None
        if atr is None
        else Mark(instrument=signal.instrument, price=signal.price, atr=atr, at=signal.timestamp, bar=False)
    )
    if signal.layer is None:
        layers = [x for x in book.layers if x.instrument == signal.instrument]
    else:
        found = book.layer(signal.instrument, signal.layer)
        layers = [found] if found is not None else []
    if not layers:
        return Decision(
            outcome=SignalOutcome.IGNORED,
            reason=f"{signal.instrument} {signal.position} is not open: nothing to exit",
            mark=mark,
        )
    reason = signal.reason or "exit signal"
    exits = tuple(
        Exit(
            instrument=x.instrument,
            layer=x.layer,
            lots=x.lots,
            price=signal.price,
            point_value=x.point_value,
            reason=reason,
        )
        for x in layers
    )
    names = ", ".join(f"Long_{x.layer}" for x in layers)
    return Decision(
        outcome=SignalOutcome.EXECUTED,
        reason=f"closed {names}: {reason}",
        record={"layers": [x.layer for x in layers]},
        exits=exits,
        mark=mark,
    )


def _bar(bar: MarketData, book: Book, config: Config) -> Decision:
    """A bar close: trail every layer's stop, exit the ones it hits, peel off the ones too large. A bar not
    newer than the latest one applied (a late resend) changes nothing (docs/rules.md §9)."""
    instrument = config.instrument(bar.instrument)
    latest = book.bar_at.get(instrument.name)
    if latest is not None and bar.timestamp <= latest:
        return Decision(
            outcome=SignalOutcome.IGNORED,
            reason=f"late bar: stamped {bar.timestamp.astimezone(IST).isoformat()}, not after the "
            f"latest bar applied ({latest.astimezone(IST).isoformat()}): changes nothing",
        )
    outside = _outside_collar(instrument, bar.price, book.fresh_mark(instrument.name, bar.timestamp))
    alerts = (
        ()
        if outside is None
        else (
            Alert(
                level=AlertLevel.WARNING,
                kind="price_collar",
                instrument=instrument.name,
                message=f"MARKET_DATA {instrument.name} applied, but {outside}",
                detail={"price": bar.price, "mark": book.price[instrument.name]},
            ),
        )
    )
    book = book.marked(instrument.name, price=bar.price, atr=bar.atr)
    equity: float | None = None  # computed once, and only if a layer survives its stop
    moves: list[StopMove] = []
    exits: list[Exit] = []
    kept: list[Layer] = [x for x in book.layers if x.instrument != instrument.name]
    for layer in book.layers:
        if layer.instrument != instrument.name:
            continue
        stop, highest, hit = trail(layer.stop, layer.highest_close, bar.price, bar.atr, instrument.trailing_stop_atr)
        if (stop, highest) != (layer.stop, layer.highest_close):
            moves.append(StopMove(instrument=instrument.name, layer=layer.layer, stop=stop, highest_close=highest))
        if hit:
            reason = f"stop hit: close {bar.price:g} below stop {stop:g}"
            exits.append(
                Exit(
                    instrument=instrument.name,
                    layer=layer.layer,
                    lots=layer.lots,
                    price=bar.price,
                    point_value=layer.point_value,
                    reason=reason,
                )
            )
            continue
        trailed = Layer(
            instrument=layer.instrument,
            layer=layer.layer,
            lots=layer.lots,
            entry_price=layer.entry_price,
            initial_stop=layer.initial_stop,
            stop=stop,
            highest_close=highest,
            point_value=layer.point_value,
        )
        if equity is None:
            equity = book.sizing_equity(config)
        peel = peel_off(trailed, atr=bar.atr, equity=equity, instrument=instrument)
        if peel.lots:
            exits.append(
                Exit(
                    instrument=instrument.name,
                    layer=layer.layer,
                    lots=peel.lots,
                    price=bar.price,
                    point_value=layer.point_value,
                    reason=peel.reason,
                )
            )
        if peel.lots < layer.lots:
            kept.append(trailed.with_lots(layer.lots - peel.lots))
    if kept:  # with nothing left open, an emergency has nothing to close
        plan = emergency_exits(book.with_layers(kept).snapshot(config), config.portfolio, instrument=instrument.name)
        for layer in plan.exits:
            price = bar.price  # the bar's own instrument's layers only, at its fresh close
            reason = (
                f"emergency: portfolio risk {plan.risk_pct_before:.2f}% above {config.portfolio.emergency_risk_pct:g}%"
            )
            exits.append(
                Exit(
                    instrument=layer.instrument,
                    layer=layer.layer,
                    lots=layer.lots,
                    price=price,
                    point_value=layer.point_value,
                    reason=reason,
                )
            )
    reason = "; ".join(e.reason for e in exits) or f"bar applied: {len(moves)} stop(s) trailed"
    return Decision(
        outcome=SignalOutcome.EXECUTED,
        reason=reason,
        record={"stops_trailed": len(moves), "exits": len(exits)},
        exits=tuple(exits),
        stop_moves=tuple(moves),
        alerts=alerts,
        mark=Mark(instrument=instrument.name, price=bar.price, atr=bar.atr, at=bar.timestamp, bar=True),
    )
