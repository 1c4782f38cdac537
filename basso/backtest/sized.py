"""Basso-sized replay: the strategy's signals and the instruments' bars through the live decision code.

Every entry, pyramid and exit, and every bar on which a rule acts, goes through exactly what the live
pipeline runs for a stored signal: `basso.rules.decisions.decide` against the `Book`, `basso.brokers.paper.paper_fills`,
`basso.rules.settlement.settle`. The backtest is the live logic, not a second implementation of it.

Speed (≥ 500,000 bars a second) comes from one observation: on most bars the live rules only trail stops.
So each bar first runs the fast path — the same `basso.rules.stops.trail` rule on a light mirror of the open
layers, the sizing equity in the book's own arithmetic, and the live rules' own peel-off and emergency
thresholds (`limit_fraction`, which `peel_off_due` and `emergency_due` compare against), less a small margin
so the fast path can only err towards caution. When any layer's stop is hit, or a layer comes within that margin of its
ongoing risk or volatility limit, or the portfolio of the emergency limit, the bar is handed to `decide` with
the book as it stood before the bar, and the live code decides. The mirror is then rebuilt from the settled
book. The sizing-equity peak (drawdown rules) is advanced on every bar, as the live book's is.

The exports carry no stop, ATR or efficiency ratio, so an entry takes the ATR of the last complete bar, the
ATR stop (price − initial multiple × ATR, the `stop_source = "atr"` rule) and an ER of 1 (no scaling). A signal
stamped at a bar's open time is applied before that bar's close. A strategy exit closes the whole layer, as a
live EXIT does; an exit of a layer a stop or peel-off already closed is recorded as ignored.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from basso.backtest.bars import Bars
from basso.backtest.replay import ClosedTrade, OpenTrade, ReplayResult
from basso.backtest.tradingview import ReplaySignal
from basso.brokers.paper import paper_fills
from basso.config import Config, EquityMode
from basso.enums import SignalOutcome
from basso.rules.book import Book, Fill
from basso.rules.decisions import Decision, decide
from basso.rules.equity import equity_in_mode
from basso.rules.layers import Layer
from basso.rules.money import realised_pnl, to_money
from basso.rules.settlement import Settlement, settle, stored_price
from basso.rules.signals import MarketData, Signal, SignalType, TradingSignal
from basso.rules.stops import initial_stop, limit_fraction, trail
from basso.timeutil import IST

__all__ = ["MARGIN_PCT", "DecisionHook", "Progress", "replay_basso"]

# How close (in percentage points) a layer may come to a peel-off limit, or the portfolio to the emergency
# limit, before the bar goes to the live code. Far above float error, far below any meaningful risk.
MARGIN_PCT = 1e-6
_PROGRESS_EVERY = 1 << 16

Progress = Callable[[int, int], None]
DecisionHook = Callable[[Signal, Decision], None]


@dataclass(slots=True)
class _Open:
    """The mirror of one open layer that the fast path trails; rebuilt from the book after every decision."""

    instrument: int
    layer: int
    lots: int
    entry: float
    initial_stop: float
    stop: float
    highest: float
    point_value: float


@dataclass(slots=True, kw_only=True)
class _Run:
    """Everything one replay carries between events."""

    config: Config
    names: tuple[str, ...]
    bars: tuple[Bars, ...]
    atrs: tuple[list[float], ...]
    book: Book  # as of the last decision; the mirror, marks and peak below are newer
    peak: float  # the highest sizing equity seen (drawdown rules), advanced on every bar
    closes: list[float]  # the newest mark per instrument (NaN before its first bar or signal)
    # When each newer mark than the book's was observed (the price collar reads only a mark of the last 24 h): the
    # bar it closed, or (-1) the ignored exit that set it at `mark_time`, or neither (-1, None) for the book's own.
    mark_bar: list[int]
    mark_time: list[datetime | None]
    atr_now: list[float]  # the newest ATR per instrument
    mirror: list[_Open]
    closed: list[ClosedTrade]
    entered: dict[tuple[str, int], tuple[datetime, Decimal]]  # layer → (entry time, entry commission left)
    counts: Counter[str]
    firsts: dict[str, str]  # note → its first occurrence in words, with the real numbers
    fast: bool
    on_decision: DecisionHook | None
    limits: list[tuple[float, float, float]]  # per instrument: trailing multiple, peel-off risk/vol fractions
    emergency: float  # the emergency's fraction of equity (`limit_fraction`, less the margin)
    equity_mode: EquityMode
    blended_weight: float
    closed_equity: float = 0.0  # the book's, as a float (set by `_sync`)
    high_water: float = 0.0


def replay_basso(
    signals: Sequence[ReplaySignal],
    bars: Mapping[str, Bars],
    atrs: Mapping[str, list[float]],
    *,
    capital: float,
    config: Config,
    progress: Progress | None = None,
    on_decision: DecisionHook | None = None,
    fast: bool = True,
) -> ReplayResult:
    """Replay `signals` (merged, in time order) with Basso sizing over `bars` (instrument → bars, in the order
    that breaks ties in time) and their ATR series `atrs`, from `capital`.

    `on_decision` sees every signal handed to the live code with its decision. `fast=False` hands every bar
    to the live code (slow; it is how the tests prove the fast path changes no decision).
    """
    names = tuple(bars)
    missing = sorted({s.instrument for s in signals} - set(names))
    if missing:
        raise ValueError(f"Basso sizing needs bars for {', '.join(missing)}: the exports carry no stop or ATR")
    money = to_money(capital)
    # The fast path keeps one all-time peak; a peak window needs each day's, which the live code keeps.
    fast = fast and not config.drawdown.peak_days
    run = _Run(
        config=config,
        names=names,
        bars=tuple(bars[n] for n in names),
        atrs=tuple(atrs[n] for n in names),
        book=Book(closed_equity=money, high_water=money, equity_peak=float(money)),
        peak=float(money),
        closes=[math.nan] * len(names),
        atr_now=[math.nan] * len(names),
        mark_bar=[-1] * len(names),
        mark_time=[None] * len(names),
        mirror=[],
        closed=[],
        entered={},
        counts=Counter(),
        firsts={},
        fast=fast,
        on_decision=on_decision,
        limits=[_limits(config, name) for name in names],
        emergency=limit_fraction(config.portfolio.emergency_risk_pct, MARGIN_PCT),
        equity_mode=config.portfolio.equity_mode,
        blended_weight=config.portfolio.blended_unrealised_weight,
    )
    _sync(run)
    _walk(run, signals, progress)
    return ReplayResult(
        sizing="basso",
        capital=money,
        instruments=names,
        closed=tuple(run.closed),
        open=_still_open(run),
        notes=_notes(run),
    )


def _limits(config: Config, name: str) -> tuple[float, float, float]:
    instrument = config.instruments[name]
    return (
        instrument.trailing_stop_atr,
        limit_fraction(instrument.ongoing_risk_pct, MARGIN_PCT),
        limit_fraction(instrument.ongoing_vol_pct, MARGIN_PCT),
    )


# --- the event loop -----------------------------------------------------------------------------------------


def _walk(run: _Run, signals: Sequence[ReplaySignal], progress: Progress | None) -> None:
    index = {name: k for k, name in enumerate(run.names)}
    stamps = [s.time.timestamp() for s in signals]
    total = sum(len(b) for b in run.bars)
    next_signal = 0
    done = 0
    upcoming = stamps[0] if stamps else math.inf
    closes, atr_now = run.closes, run.atr_now
    for k, start, stop in _segments(run.bars):
        times, bar_closes, bar_atrs = run.bars[k].times, run.bars[k].closes, run.atrs[k]
        i = start
        while i < stop:
            # Signals stamped at or before this bar's open come first.
            while upcoming <= times[i]:
                _signal(run, signals[next_signal], index[signals[next_signal].instrument])
                next_signal += 1
                upcoming = stamps[next_signal] if next_signal < len(stamps) else math.inf
            if run.mirror:
                i = _trail(run, k, i, bisect_left(times, upcoming, i + 1, stop))
                continue
            # Nothing open: until the next signal, a bar only becomes the newest mark (stored form applied in
            # `_book_now`), so the run of bars before it collapses to its last one.
            last = bisect_left(times, upcoming, i + 1, stop) - 1
            closes[k] = bar_closes[last]
            atr_now[k] = bar_atrs[last]
            run.mark_bar[k] = last
            i = last + 1
        done += stop - start
        if progress is not None:
            progress(done, total)
    for signal in signals[next_signal:]:
        _signal(run, signal, index[signal.instrument])


def _segments(all_bars: Sequence[Bars]) -> list[tuple[int, int, int]]:
    """(instrument, first bar, end bar) runs in time order; ties go to the instrument given first.

    One instrument is one run per `_PROGRESS_EVERY` bars; several are merged bar by bar (their bars are few).
    """
    if len(all_bars) == 1:
        count = len(all_bars[0])
        return [(0, i, min(i + _PROGRESS_EVERY, count)) for i in range(0, count, _PROGRESS_EVERY)]
    order = sorted((t, k, i) for k, bars in enumerate(all_bars) for i, t in enumerate(bars.times))
    return [(k, i, i + 1) for _, k, i in order]


def _trail(run: _Run, k: int, i: int, end: int) -> int:
    """Bars `i` … `end` − 1 of instrument `k`, before its next signal, while layers are open: trail the mirror
    bar by bar until a bar on which a rule may act. That bar goes to the live code, with the book as it stood
    before it, and the walk resumes after it; the next bar to walk is returned. The checks only decide whether
    to ask the live code, on the figures it would compute: the close as sent, the stops as trailed, not stored."""
    bar_closes, bar_atrs = run.bars[k].closes, run.atrs[k]
    closes, atr_now, mirror, mark_bar = run.closes, run.atr_now, run.mirror, run.mark_bar
    multiple, risk_limit, vol_limit = run.limits[k]
    emergency = run.emergency
    while i < end:
        close, atr = bar_closes[i], bar_atrs[i]
        atr_now[k] = atr  # raw; rounded as stored where the book would hold it
        closes[k] = close
        mark_bar[k] = i
        if atr != atr:  # no ATR yet (NaN): nothing to trail by
            i += 1
            continue
        if not run.fast:
            _decide_bar(run, k, i)
            return i + 1
        trailed: list[tuple[_Open, float, float]] = []
        unrealised = risk = 0.0  # the book's own arithmetic (Book.unrealised) in its layer order
        for layer in mirror:
            stop = layer.stop
            if layer.instrument == k:
                stop, highest, hit = trail(stop, layer.highest, close, atr, multiple)
                if hit:
                    _decide_bar(run, k, i)
                    return i + 1
                trailed.append((layer, stop, highest))
            unrealised += (closes[layer.instrument] - layer.entry) * layer.lots * layer.point_value
            if stop < layer.entry:
                risk += (layer.entry - stop) * layer.lots * layer.point_value
        equity = _equity(run, unrealised)
        # `emergency_due` and `peel_off_due` (`over_limit`) written out, with the same limits: this runs for
        # every bar in the market.
        if equity <= 0 or risk > emergency * equity:
            _decide_bar(run, k, i)
            return i + 1
        for layer, stop, _ in trailed:
            exposure = layer.lots * layer.point_value
            if (layer.entry - stop) * exposure > risk_limit * equity or atr * exposure > vol_limit * equity:
                _decide_bar(run, k, i)
                return i + 1
        stored = stored_price(close)
        for layer, stop, highest in trailed:
            # Kept exactly as the settled book would keep them: stored to four decimals.
            if stop != layer.stop:
                layer.stop = stored_price(stop)
            layer.highest = stored if highest == close else highest
        if stored != close:
            closes[k] = stored
            equity = _equity(run, sum((closes[x.instrument] - x.entry) * x.lots * x.point_value for x in mirror))
        if equity > run.peak:
            run.peak = equity
        i += 1
    return i


def _equity(run: _Run, unrealised: float) -> float:
    """The sizing equity with the mirror's `unrealised` P&L, as the book computes it."""
    return equity_in_mode(
        run.equity_mode,
        closed=run.closed_equity,
        unrealised=unrealised,
        high_water=run.high_water,
        blended_weight=run.blended_weight,
    )


# --- handing events to the live code ------------------------------------------------------------------------


def _decide_bar(run: _Run, k: int, i: int) -> None:
    bars = run.bars[k]
    _apply(
        run,
        MarketData(instrument=run.names[k], timestamp=_closed_at(bars, i), price=bars.closes[i], atr=run.atrs[k][i]),
    )


def _closed_at(bars: Bars, i: int) -> datetime:
    """When bar `i` is complete (and its MARKET_DATA sent): when the next one opens; the last bar one bar's length
    after its open (stamped at its open, it would be no newer than the bar before, and ignored as late)."""
    if i + 1 < len(bars):
        return bars.time_of(i + 1)
    if i > 0:
        return bars.time_of(i) + (bars.time_of(i) - bars.time_of(i - 1))
    return bars.time_of(i)


def _signal(run: _Run, signal: ReplaySignal, k: int) -> None:
    if signal.type is SignalType.EXIT and run.fast and not any(x.instrument == k for x in run.mirror):
        # The live answer to an EXIT with nothing of its instrument open is "ignored", and its price becomes
        # the mark, which no open layer reads (equity and its peak are unchanged). Most strategy exits arrive
        # after Basso's own stop has closed the layers; answering them here halves the replay's trips into the
        # live code. `fast=False` sends them.
        run.counts["EXIT: ignored"] += 1
        if not math.isnan(run.atr_now[k]):  # with no ATR known, the live code marks nothing either
            run.closes[k] = signal.price
            run.mark_bar[k], run.mark_time[k] = -1, signal.time
        return
    if signal.type is SignalType.EXIT:
        trading = TradingSignal(
            type=SignalType.EXIT,
            instrument=signal.instrument,
            layer=signal.layer,
            price=signal.price,
            stop=None,
            lots=signal.lots,
            atr=None,
            er=None,
            supertrend=None,
            timestamp=signal.time,
            reason=f"strategy exit: {signal.reason}",
        )
        _apply(run, trading)
        return
    atr = stored_price(run.atr_now[k])  # the book's newest ATR, as it would hold it
    if math.isnan(atr):
        run.counts[f"{signal.type.value}: skipped, no ATR yet (before the {run.names[k]} bars)"] += 1
        return
    instrument = run.config.instruments[signal.instrument]
    stop = initial_stop(signal.price, atr, instrument.initial_stop_atr)
    if not 0 < stop < signal.price:
        run.counts[f"{signal.type.value}: skipped, ATR stop not between 0 and the price"] += 1
        return
    trading = TradingSignal(
        type=signal.type,
        instrument=signal.instrument,
        layer=signal.layer,
        price=signal.price,
        stop=stop,
        lots=signal.lots,
        atr=atr,
        er=1.0,
        supertrend=None,
        timestamp=signal.time,
        reason=signal.reason,
    )
    _apply(run, trading)


def _apply(run: _Run, signal: Signal) -> None:
    """decide → paper fills → settle, exactly as the live pipeline processes a stored signal."""
    book = _book_now(run)
    decision = decide(signal, book, run.config)
    if run.on_decision is not None:
        run.on_decision(signal, decision)
    fills = paper_fills(decision, run.config)
    settlement = settle(decision, fills, book, run.config)
    _count(run, signal, decision)
    _record(run, signal.timestamp, settlement)
    run.book = settlement.book
    _sync(run)


def _book_now(run: _Run) -> Book:
    # The mirror is rebuilt from the book's own (sorted) layers, so it is already in the book's order.
    book = run.book
    layers = tuple(
        Layer(
            instrument=run.names[x.instrument],
            layer=x.layer,
            lots=x.lots,
            entry_price=x.entry,
            initial_stop=x.initial_stop,
            stop=x.stop,
            highest_close=x.highest,
            point_value=x.point_value,
        )
        for x in run.mirror
    )
    marks = {name: stored_price(run.closes[k]) for k, name in enumerate(run.names) if not math.isnan(run.closes[k])}
    atrs = {name: stored_price(run.atr_now[k]) for k, name in enumerate(run.names) if not math.isnan(run.atr_now[k])}
    marked_at = dict(book.marked_at)
    for k, name in enumerate(run.names):
        when = _closed_at(run.bars[k], run.mark_bar[k]) if run.mark_bar[k] >= 0 else run.mark_time[k]
        if when is not None:
            marked_at[name] = when
    return Book(
        closed_equity=book.closed_equity,
        high_water=book.high_water,
        equity_peak=run.peak,
        layers=layers,
        atr={**book.atr, **atrs},
        price={**book.price, **marks},
        marked_at=marked_at,
        bar_at=book.bar_at,
        kill_switch=book.kill_switch,
        day=book.day,
        day_peak=book.day_peak,
        earlier_peaks=book.earlier_peaks,
    )


def _sync(run: _Run) -> None:
    index = {name: k for k, name in enumerate(run.names)}
    run.mirror = [
        _Open(
            instrument=index[x.instrument],
            layer=x.layer,
            lots=x.lots,
            entry=x.entry_price,
            initial_stop=x.initial_stop,
            stop=x.stop,
            highest=x.highest_close,
            point_value=x.point_value,
        )
        for x in run.book.layers
    ]
    for name, price in run.book.price.items():
        run.closes[index[name]] = price
    for name, atr in run.book.atr.items():
        run.atr_now[index[name]] = atr
    run.peak = run.book.equity_peak
    run.mark_bar[:] = [-1] * len(run.names)  # the book's marks are the newest now, with their times
    run.mark_time[:] = [None] * len(run.names)
    run.closed_equity = float(run.book.closed_equity)
    run.high_water = float(run.book.high_water)


# --- what happened ------------------------------------------------------------------------------------------


def _count(run: _Run, signal: Signal, decision: Decision) -> None:
    when = signal.timestamp.astimezone(IST).strftime("%Y-%m-%d %H:%M")
    if isinstance(signal, MarketData):
        for exit_ in decision.exits:
            kind = "peel-off" if exit_.reason.startswith("peel") else exit_.reason.split(":")[0]
            _tally(
                run,
                f"bar exits ({kind})",
                f"{exit_.instrument} Long_{exit_.layer}, {exit_.lots} lot"
                f"{'s' if exit_.lots != 1 else ''}, on the bar closing {when}: {exit_.reason}",
            )
        return
    run.counts[f"{signal.type.value}: {decision.outcome.value}"] += 1
    if decision.outcome is SignalOutcome.BLOCKED:
        _tally(
            run,
            f"{signal.type.value} blocked by {decision.record['blocked_by']}",
            f"{signal.instrument} {signal.position} on {when}: {decision.reason}{_figures(decision.record)}",
        )


def _figures(record: Mapping[str, Any]) -> str:
    """The sizing constraints behind a 0-lot block, to follow its reason."""
    if "lot_r" in record:
        return f" (Lot-R {record['lot_r']:.2f}, Lot-V {record['lot_v']:.2f}, Lot-M {record['lot_m']:.2f})"
    if "a_margin" in record and record.get("lots") == 0:
        return (
            f" (A {record['a_margin']:.2f}, B {record['b_discipline']:.2f}, C {record['c_profit_budget']:.2f},"
            f" D {record['d_headroom']:.2f})"
        )
    return ""


def _tally(run: _Run, note: str, first: str) -> None:
    """Count one more of `note`, keeping the first occurrence's words."""
    run.counts[note] += 1
    run.firsts.setdefault(note, first)


def _record(run: _Run, when: datetime, settlement: Settlement) -> None:
    exits: list[Fill] = [f for f in settlement.fills if not f.opening]
    for fill in settlement.fills:
        if fill.opening:
            run.entered[(fill.instrument, fill.layer)] = (when, fill.commission)
    for closing, fill in zip(settlement.closings, exits, strict=True):
        key = (closing.instrument, closing.layer)
        entry_time, entry_cost = run.entered[key]
        layer = run.book.layer(closing.instrument, closing.layer)
        assert layer is not None
        share = entry_cost if closing.whole else to_money(entry_cost * closing.lots / layer.lots)
        run.entered[key] = (entry_time, entry_cost - share)
        costs = share + fill.commission
        run.closed.append(
            ClosedTrade(
                instrument=closing.instrument,
                layer=closing.layer,
                lots=closing.lots,
                entry_time=entry_time,
                entry_price=closing.entry_price,
                exit_time=when,
                exit_price=closing.exit_price,
                multiplier=layer.point_value,
                commission=costs,
                pnl=closing.realised_pnl - costs,
                reason=closing.reason,
            )
        )


def _still_open(run: _Run) -> tuple[OpenTrade, ...]:
    still: list[OpenTrade] = []
    for layer in run.book.layers:
        k = run.names.index(layer.instrument)
        mark = layer.entry_price if math.isnan(run.closes[k]) else run.closes[k]  # newer than the book's marks
        bars = run.bars[k]
        entry_time, _ = run.entered[(layer.instrument, layer.layer)]
        still.append(
            OpenTrade(
                instrument=layer.instrument,
                layer=layer.layer,
                lots=layer.lots,
                entry_time=entry_time,
                entry_price=layer.entry_price,
                mark_time=max(entry_time, bars.time_of(len(bars) - 1)),
                mark_price=mark,
                multiplier=layer.point_value,
                unrealised=realised_pnl(layer.entry_price, mark, layer.lots, layer.point_value),
            )
        )
    return tuple(still)


def _notes(run: _Run) -> tuple[str, ...]:
    """One sentence per kind of event: its count, and for blocks and bar exits the first one in full."""
    return tuple(
        f"{what}: {count}" + (f"; the first, {run.firsts[what]}" if what in run.firsts else "")
        for what, count in sorted(run.counts.items(), key=_note_order)
    )


def _note_order(item: tuple[str, int]) -> tuple[str, bool, str]:
    # By signal type; within one, the totals ("PYRAMID: blocked: 337") before their breakdown ("PYRAMID blocked by").
    head = item[0].split(" ")[0]
    return head.rstrip(":"), not head.endswith(":"), item[0]
