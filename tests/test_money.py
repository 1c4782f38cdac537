"""Stored money: Decimal in paise from the floats' shortest repr, and the signed ledger (docs/rules.md §2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basso.enums import LedgerKind
from basso.rules.money import closed_equity, commission, ledger_amount, realised_pnl, to_money


def test_to_money_rounds_half_to_even_at_the_paisa() -> None:
    assert to_money(0.125) == Decimal("0.12")
    assert to_money(0.135) == Decimal("0.14")
    assert to_money("1234.565") == Decimal("1234.56")


def test_to_money_reads_a_float_as_its_shortest_repr() -> None:
    # 1.005 as a binary float is 1.00499999999999989…; its repr "1.005" is what was meant ⇒ 1.00 (half-even).
    assert to_money(1.005) == Decimal("1.00")
    assert to_money(2.675) == Decimal("2.68")  # "2.675" half-even ⇒ 2.68 (a float round() says 2.67)


def test_to_money_refuses_non_finite_amounts() -> None:
    with pytest.raises(ValueError, match="must be finite"):
        to_money(float("nan"))
    with pytest.raises(ValueError, match="must be finite"):
        to_money(float("inf"))


def test_realised_pnl_has_no_float_drift() -> None:
    # (52,000.15 − 52,000.05) × 35 × 35 = 0.10 × 1,225 = 122.50; float gives 122.49999999821…
    assert (52_000.15 - 52_000.05) * 35 * 35 != 122.5
    assert realised_pnl(52_000.05, 52_000.15, 35, 35) == Decimal("122.50")


def test_realised_pnl_of_a_losing_gold_layer_is_negative() -> None:
    # (77,800 − 78,500) × 2 × 10 = −14,000
    assert realised_pnl(78_500, 77_800, 2, 10) == Decimal("-14000.00")


def test_commission_is_a_percent_of_one_sides_notional() -> None:
    # 52,000 × 3 × 30 = 46,80,000 notional × 0.05 % = 2,340
    assert commission(52_000, 3, 30, 0.05) == Decimal("2340.00")


def test_ledger_signs_deposits_withdrawals_and_costs() -> None:
    assert ledger_amount(LedgerKind.DEPOSIT, Decimal(5_000_000)) == Decimal("5000000.00")
    assert ledger_amount(LedgerKind.WITHDRAWAL, Decimal(100_000)) == Decimal("-100000.00")
    assert ledger_amount(LedgerKind.COMMISSION, Decimal("2340")) == Decimal("-2340.00")
    assert ledger_amount(LedgerKind.ROLL_COST, Decimal("1500.5")) == Decimal("-1500.50")
    assert ledger_amount(LedgerKind.REALISED_PNL, Decimal("-14000")) == Decimal("-14000.00")


def test_a_negative_magnitude_for_a_signed_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="a withdrawal is given as a magnitude"):
        ledger_amount(LedgerKind.WITHDRAWAL, Decimal(-5))


def test_closed_equity_is_the_sum_of_the_ledger() -> None:
    # 50 L deposit − 1 L withdrawal + 1,80,000 win − 2,340 commission = 50,77,660
    ledger = [Decimal("5000000"), Decimal("-100000"), Decimal("180000"), Decimal("-2340")]
    assert closed_equity(ledger) == Decimal("5077660.00")


@given(
    entry=st.decimals("0.05", "200000", places=2),
    exit_=st.decimals("0.05", "200000", places=2),
    lots=st.integers(0, 1000),
    pv=st.sampled_from([1, 5, 10, 15, 30, 2500]),
)
def test_realised_pnl_equals_exact_decimal_arithmetic(entry: Decimal, exit_: Decimal, lots: int, pv: int) -> None:
    # Prices given as two-decimal floats must give exactly the Decimal product of what they say.
    assert realised_pnl(float(entry), float(exit_), lots, pv) == (exit_ - entry) * lots * pv


def test_amounts_far_beyond_28_digits_stay_exact_to_the_paisa() -> None:
    # A century of compounding in a synthetic backtest: ₹10^30 and a paisa must both survive.
    assert to_money("1000000000000000000000000000000.005") == Decimal("1000000000000000000000000000000.00")
    assert closed_equity([to_money(10**30), to_money("0.01")]) == Decimal("1000000000000000000000000000000.01")
