"""Fixed-lot replay: every trade of the exports at the strategy's own lots, on one merged portfolio.

P&L of a trade = lots × M × (exit − entry) − c × M × lots × (entry + exit), where M is the point-value
multiplier (by default the instrument's point value on the trade's entry date: Bank Nifty's changes with its
lot size) and c the commission per side. The amounts are the ledger's own arithmetic (`basso.rules.money`): Decimal
rupees from each price's shortest repr, rounded to paise, so a total over thousands of trades does not drift.

The outcome (`ReplayResult`) is what `basso.backtest.stats` and `report` read; the Basso-sized replay
produces the same value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from basso.backtest.tradingview import ExportedTrade
from basso.config import Config
from basso.rules.money import commission, realised_pnl, to_decimal, to_money
from basso.rules.values import value_class

__all__ = ["ClosedTrade", "OpenTrade", "PnlSource", "ReplayResult", "commission_pct", "replay_fixed"]

PnlSource = Literal["formula", "export"]


@value_class
class ClosedTrade:
    """One closed layer (or part of one): what it earned, net of commission."""

    instrument: str
    layer: int  # 1 = Long_1 (base), 2 … = pyramids
    lots: int
    entry_time: datetime
    entry_price: float
    exit_time: datetime
    exit_price: float
    multiplier: float  # ₹ per point per lot
    commission: Decimal  # both sides, ≥ 0
    pnl: Decimal  # net of commission, in paise
    reason: str  # why it closed: the export's exit label, or the Basso rule that closed it
    trade: int = 0  # the export's Trade # (0 when the layer was not a trade of the export)


@value_class
class OpenTrade:
    """A layer still open at the end of the replay, marked at the last price known."""

    instrument: str
    layer: int
    lots: int
    entry_time: datetime
    entry_price: float
    mark_time: datetime
    mark_price: float
    multiplier: float
    unrealised: Decimal  # (mark − entry) × lots × M, before exit costs
    trade: int = 0


@value_class
class ReplayResult:
    """What a replay produced: closed trades in exit-time order and the layers still open."""

    sizing: Literal["fixed", "basso"]
    capital: Decimal
    instruments: tuple[str, ...]  # in the order given, which also breaks ties in time
    closed: tuple[ClosedTrade, ...]
    open: tuple[OpenTrade, ...]
    notes: tuple[str, ...] = ()  # decisions worth telling the user: blocked entries, peel-offs, …


def commission_pct(fraction: float) -> float:
    """A commission given as a fraction (0.0005) as the percent the money rules take (0.05), without float dust."""
    return float(to_decimal(fraction) * 100)


def replay_fixed(
    trades: Mapping[str, Sequence[ExportedTrade]],
    *,
    capital: float,
    commission: float,
    config: Config,
    multipliers: Mapping[str, float] | None = None,
    commissions: Mapping[str, float] | None = None,
    pnl_source: PnlSource = "formula",
) -> ReplayResult:
    """Replay every trade of `trades` (instrument → its export) at its own lots.

    `commission` is c, a fraction per side (0.0005 = 0.05 %), and `commissions` overrides it per instrument;
    `multipliers` overrides M per instrument.
    `pnl_source="export"` books TradingView's own Net P&L figure instead of the formula (a cross-check).
    """
    instruments = tuple(trades)
    closed: list[tuple[tuple[datetime, int, int], ClosedTrade]] = []
    still_open: list[OpenTrade] = []
    for order, name in enumerate(instruments):
        instrument = config.instrument(name)
        given = (multipliers or {}).get(name)
        pct = commission_pct((commissions or {}).get(name, commission))
        for trade in trades[name]:
            multiplier = given if given is not None else instrument.point_value_on(trade.entry_time.date())
            if trade.is_open:
                still_open.append(_open(trade, multiplier))
            else:
                closed.append(((trade.exit_time, order, trade.number), _closed(trade, multiplier, pct, pnl_source)))
    closed.sort(key=lambda item: item[0])
    return ReplayResult(
        sizing="fixed",
        capital=to_money(capital),
        instruments=instruments,
        closed=tuple(trade for _, trade in closed),
        open=tuple(still_open),
    )


def _closed(trade: ExportedTrade, multiplier: float, pct: float, pnl_source: PnlSource) -> ClosedTrade:
    costs = commission(trade.entry_price, trade.lots, multiplier, pct) + commission(
        trade.exit_price, trade.lots, multiplier, pct
    )
    if pnl_source == "export":
        pnl = to_money(trade.net_pnl)
    else:
        pnl = realised_pnl(trade.entry_price, trade.exit_price, trade.lots, multiplier) - costs
    return ClosedTrade(
        instrument=trade.instrument,
        layer=trade.layer,
        lots=trade.lots,
        entry_time=trade.entry_time,
        entry_price=trade.entry_price,
        exit_time=trade.exit_time,
        exit_price=trade.exit_price,
        multiplier=multiplier,
        commission=costs,
        pnl=pnl,
        reason=trade.exit_label,
        trade=trade.number,
    )


def _open(trade: ExportedTrade, multiplier: float) -> OpenTrade:
    return OpenTrade(
        instrument=trade.instrument,
        layer=trade.layer,
        lots=trade.lots,
        entry_time=trade.entry_time,
        entry_price=trade.entry_price,
        mark_time=trade.exit_time,
        mark_price=trade.exit_price,
        multiplier=multiplier,
        unrealised=realised_pnl(trade.entry_price, trade.exit_price, trade.lots, multiplier),
        trade=trade.number,
    )
