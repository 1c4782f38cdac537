"""Trade statistics of a replay: counts, win rate, profit factor, P&L, drawdown, CAGR, lots, time in market.

Definitions (the ones docs/tradingview-exports.md's figures use):

* A winner earned more than zero net of costs; a loser less than zero.
* Profit factor = gross profit ÷ gross loss (None when nothing lost: it is unbounded).
* Equity is **closed-trade equity**: the capital plus every closed trade's P&L, stepping at exit times in
  exit-time order (trades closing at the same minute step together). Max drawdown = the largest
  1 − equity ÷ running peak, the peak starting at the capital.
* CAGR = (final ÷ capital)^(1 ÷ years) − 1, years = (last exit or mark − first entry) ÷ 365.25 days.
* Max lots = the largest single trade (layer); max open lots = the most lots held at once across layers and
  instruments.
* Time in market = the share of the period with at least one layer open.

Per-instrument figures read each instrument alone on the same capital.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby

from basso.backtest.replay import ClosedTrade, OpenTrade, ReplayResult

__all__ = ["EquityPoint", "TradeStats", "equity_curve", "per_instrument_stats", "portfolio_stats", "trade_stats"]

_YEAR = timedelta(days=365.25)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class EquityPoint:
    """Closed-trade equity after every trade closing at `time`, and its drawdown from the running peak."""

    time: datetime
    equity: Decimal
    drawdown_pct: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeStats:
    """The figures of one replay (or of one instrument within it); see the module docstring."""

    trades_closed: int
    trades_open: int
    winners: int
    losers: int
    win_rate_pct: float
    profit_factor: float | None
    gross_profit: Decimal
    gross_loss: Decimal  # a magnitude, ≥ 0
    net_pnl: Decimal
    average_win: Decimal
    average_loss: Decimal  # a magnitude, ≥ 0
    largest_win: Decimal
    largest_loss: Decimal  # a magnitude, ≥ 0
    commission: Decimal
    unrealised: Decimal  # of the layers still open, at their last mark
    capital: Decimal
    final_equity: Decimal  # closed-trade equity at the end
    max_drawdown_pct: float
    max_lots: int
    max_open_lots: int
    cagr_pct: float
    years: float
    time_in_market_pct: float
    start: datetime | None
    end: datetime | None


def portfolio_stats(result: ReplayResult) -> TradeStats:
    """The figures of the whole merged portfolio."""
    return trade_stats(result.closed, result.open, result.capital)


def per_instrument_stats(result: ReplayResult) -> dict[str, TradeStats]:
    """The figures of each instrument alone, on the same capital, in the order the replay was given them."""
    return {
        name: trade_stats(
            [t for t in result.closed if t.instrument == name],
            [t for t in result.open if t.instrument == name],
            result.capital,
        )
        for name in result.instruments
    }


def trade_stats(closed: Sequence[ClosedTrade], still_open: Sequence[OpenTrade], capital: Decimal) -> TradeStats:
    """The figures of `closed` (in exit-time order) and `still_open` on `capital`."""
    wins = [t.pnl for t in closed if t.pnl > 0]
    losses = [-t.pnl for t in closed if t.pnl < 0]
    gross_profit, gross_loss = sum(wins, _ZERO), sum(losses, _ZERO)
    net = sum((t.pnl for t in closed), _ZERO)
    final = capital + net
    start, end = _period(closed, still_open)
    years = (end - start) / _YEAR if start is not None and end is not None else 0.0
    curve = equity_curve(closed, capital)
    return TradeStats(
        trades_closed=len(closed),
        trades_open=len(still_open),
        winners=len(wins),
        losers=len(losses),
        win_rate_pct=100.0 * len(wins) / len(closed) if closed else 0.0,
        profit_factor=float(gross_profit / gross_loss) if gross_loss else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_pnl=net,
        average_win=_average(wins),
        average_loss=_average(losses),
        largest_win=max(wins, default=_ZERO),
        largest_loss=max(losses, default=_ZERO),
        commission=sum((t.commission for t in closed), _ZERO),
        unrealised=sum((t.unrealised for t in still_open), _ZERO),
        capital=capital,
        final_equity=final,
        max_drawdown_pct=max((p.drawdown_pct for p in curve), default=0.0),
        max_lots=max([t.lots for t in closed] + [t.lots for t in still_open], default=0),
        max_open_lots=_max_open_lots(closed, still_open),
        cagr_pct=_cagr_pct(capital, final, years),
        years=years,
        time_in_market_pct=_time_in_market_pct(closed, still_open, start, end),
        start=start,
        end=end,
    )


def equity_curve(closed: Sequence[ClosedTrade], capital: Decimal) -> list[EquityPoint]:
    """Closed-trade equity after each exit time (simultaneous exits step together), with drawdown."""
    equity = peak = capital
    points: list[EquityPoint] = []
    for time, trades in groupby(closed, key=lambda t: t.exit_time):
        equity += sum((t.pnl for t in trades), _ZERO)
        peak = max(peak, equity)
        points.append(EquityPoint(time=time, equity=equity, drawdown_pct=_drawdown_pct(equity, peak)))
    return points


def _drawdown_pct(equity: Decimal, peak: Decimal) -> float:
    return 100.0 * float(1 - equity / peak) if peak > 0 else 100.0


def _average(amounts: Sequence[Decimal]) -> Decimal:
    return (sum(amounts, _ZERO) / len(amounts)).quantize(Decimal("0.01")) if amounts else _ZERO


def _period(closed: Sequence[ClosedTrade], still_open: Sequence[OpenTrade]) -> tuple[datetime | None, datetime | None]:
    entries = [t.entry_time for t in closed] + [t.entry_time for t in still_open]
    ends = [t.exit_time for t in closed] + [t.mark_time for t in still_open]
    return min(entries, default=None), max(ends, default=None)


def _cagr_pct(capital: Decimal, final: Decimal, years: float) -> float:
    if years <= 0 or capital <= 0:
        return 0.0
    if final <= 0:
        return -100.0
    return 100.0 * (math.pow(float(final / capital), 1.0 / years) - 1.0)


def _holding(closed: Iterable[ClosedTrade], still_open: Iterable[OpenTrade]) -> list[tuple[datetime, int, int]]:
    # (time, order, lots change): at the same minute an exit (order 0) comes before an entry (order 1), except
    # that a zero-length trade's own exit (order 2) follows its entry.
    spans = [(t.entry_time, t.exit_time, t.lots) for t in closed]
    spans += [(t.entry_time, t.mark_time, t.lots) for t in still_open]
    events = [(entry, 1, lots) for entry, _, lots in spans]
    events += [(leave, 0 if leave > entry else 2, -lots) for entry, leave, lots in spans]
    return sorted(events)


def _max_open_lots(closed: Sequence[ClosedTrade], still_open: Sequence[OpenTrade]) -> int:
    held = most = 0
    for _, _, change in _holding(closed, still_open):
        held += change
        most = max(most, held)
    return most


def _time_in_market_pct(
    closed: Sequence[ClosedTrade], still_open: Sequence[OpenTrade], start: datetime | None, end: datetime | None
) -> float:
    if start is None or end is None or end <= start:
        return 0.0
    held, since, invested = 0, start, timedelta(0)
    for time, _, change in _holding(closed, still_open):
        if held == 0 and change > 0:
            since = time
        held += change
        if held == 0:
            invested += time - since
    return 100.0 * float(invested / (end - start))
