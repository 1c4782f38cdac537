"""Money as a person reads it: one format for every rupee amount the CLI shows.

₹ with the Indian grouping (the last three digits, then pairs: lakhs and crores) and always two decimals of
paise, so ₹1,51,57,234.00 and −₹52,963.75 line up in a column and read at a glance.
"""

from __future__ import annotations

from decimal import Decimal

from basso.rules.money import to_money

__all__ = ["rupees"]


def rupees(amount: Decimal | int | float | str) -> str:
    """`amount` as ₹1,51,57,234.00: Indian grouping, paise (rounded half to even), a minus sign before the ₹."""
    value = to_money(amount)  # exact: an API's decimal string as written, a float through its shortest repr
    sign = "−" if value < 0 else ""  # −0.00 (a loss that rounds to nothing) is shown as ₹0.00
    whole, paise = f"{abs(value):f}".split(".")
    head, groups = whole[:-3], [whole[-3:]]
    while head:
        head, groups = head[:-2], [head[-2:], *groups]
    return f"{sign}₹{','.join(groups)}.{paise}"
