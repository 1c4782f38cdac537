"""Money that is stored: rupees as `Decimal` rounded to paise, and the signed ledger arithmetic (docs/rules.md §2).

Prices arrive as floats. A float such as 52000.05 is really 52000.0500000000029…; multiplying that by
lots and point value in float drifts by fractions of a paisa that then round the wrong way. So amounts
that are written to the ledger are computed in `Decimal` from each float's *shortest repr* ("52000.05"),
which is exactly the number the exchange or the signal meant.

The ledger is one append-only list of signed amounts: deposits +, withdrawals −, realised P&L ±, costs −.
Closed equity is their sum, and nothing else stores equity.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal

from basso.enums import LedgerKind

__all__ = ["PAISA", "closed_equity", "commission", "ledger_amount", "realised_pnl", "to_decimal", "to_money"]

PAISA = Decimal("0.01")

# The sign every kind of ledger row carries; realised P&L carries its own.
_SIGN = {
    LedgerKind.DEPOSIT: 1,
    LedgerKind.WITHDRAWAL: -1,
    LedgerKind.COMMISSION: -1,
    LedgerKind.ROLL_COST: -1,
}


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """`value` as an exact Decimal: a float through its shortest repr, so 0.1 is 0.1, not 0.1000000000000000055."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"amount must be finite, got {value!r}")
        return Decimal(repr(value))
    result = value if isinstance(value, Decimal) else Decimal(value)  # a Decimal is immutable: no copy needed
    if not result.is_finite():
        raise ValueError(f"amount must be finite, got {value!r}")
    return result


# Decimal's default 28 significant digits would refuse amounts above ₹10^25 (a century of compounding in a
# synthetic backtest reaches them); 60 digits keep every amount exact to the paisa instead of failing.
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)


def to_money(value: float | int | str | Decimal) -> Decimal:
    """`value` in rupees rounded to paise, half to even (banker's rounding does not bias a long ledger)."""
    return to_decimal(value).quantize(PAISA, context=_CONTEXT)


# Point values and commission rates are a handful of configured constants, converted on every fill: their exact
# forms are kept (prices are not: they are all different).
_constant = functools.lru_cache(maxsize=256)(to_decimal)


def realised_pnl(entry: float, exit: float, lots: int, point_value: float) -> Decimal:
    """(exit − entry) × lots × point value, in paise, computed in Decimal (a long layer; costs separate)."""
    return to_money((to_decimal(exit) - to_decimal(entry)) * lots * _constant(point_value))


def commission(price: float, lots: int, point_value: float, commission_pct: float) -> Decimal:
    """The commission on one side's notional (price × lots × point value × pct ÷ 100), as a positive cost."""
    notional = to_decimal(price) * abs(lots) * _constant(point_value)
    return to_money(notional * _constant(commission_pct) / 100)


def ledger_amount(kind: LedgerKind, amount: Decimal) -> Decimal:
    """The signed amount a ledger row of `kind` stores, in paise.

    Deposits, withdrawals and costs are given as magnitudes (≥ 0) and get their sign here, so a caller
    cannot book a withdrawal as a deposit; realised P&L is already signed and passes through.
    """
    money = to_money(amount)
    if kind is LedgerKind.REALISED_PNL:
        return money
    if money < 0:
        raise ValueError(f"a {kind.value} is given as a magnitude (≥ 0), got {money}")
    return money * _SIGN[kind]


def closed_equity(amounts: Iterable[Decimal]) -> Decimal:
    """Closed equity: the sum of the ledger's signed amounts."""
    total = Decimal(0)
    for amount in amounts:
        total = _CONTEXT.add(total, amount)
    return to_money(total)
