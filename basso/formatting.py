"""Numbers as a trader in India reads them, for the dashboard and the notifications: rupees (the one format of
`basso.display`, re-exported here), prices, and ages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from basso.display import rupees

__all__ = ["age", "decimal", "number", "rupees"]


def decimal(value: Any) -> Decimal:
    """`value` (a Decimal, an int, a float or a decimal string) as an exact Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def number(value: Any, places: int = 2) -> str:
    """A plain number to `places` decimals (prices, percentages, R)."""
    return f"{decimal(value):.{places}f}".replace("-", "−")


def age(seconds: float | None) -> str:
    """How long ago, in the largest unit that reads well: 42 s, 7 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return "never"
    whole = max(0, int(seconds))
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"
