"""One rupee format for everything a person reads: ₹, Indian grouping (lakhs, crores), paise."""

from __future__ import annotations

from decimal import Decimal

import pytest

from basso.display import rupees


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0, "₹0.00"),
        (5, "₹5.00"),
        ("0.05", "₹0.05"),  # five paise
        (Decimal("999.99"), "₹999.99"),  # below a thousand: no separator
        (1000, "₹1,000.00"),
        (99999.5, "₹99,999.50"),
        (100000, "₹1,00,000.00"),  # one lakh: 1 | 00 | 000
        (5000000, "₹50,00,000.00"),  # fifty lakh, the default capital
        ("15157234.00", "₹1,51,57,234.00"),  # an API string: 1 crore 51 lakh 57 thousand 234
        (10000000, "₹1,00,00,000.00"),  # one crore
        (Decimal("1234567890.12"), "₹1,23,45,67,890.12"),  # 123 crore: pairs go on above the crore
        (-52963.75, "−₹52,963.75"),  # a loss: the sign before the ₹
        (Decimal("-12000"), "−₹12,000.00"),
        (-0.004, "₹0.00"),  # rounds to no paise: no minus on zero
        (0.125, "₹0.12"),  # half to even, as the ledger rounds
        (0.135, "₹0.14"),
        (52000.05, "₹52,000.05"),  # a float through its shortest repr, not 52000.0499…
    ],
)
def test_rupees_are_grouped_the_indian_way_with_paise(amount: Decimal | int | float | str, shown: str) -> None:
    assert rupees(amount) == shown
