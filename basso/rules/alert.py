"""`Alert`: a fact the trader must hear about (docs/rules.md §10), decided by the pure rules and stored with the
outcome that raised it (in the same transaction)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from basso.enums import AlertLevel
from basso.rules.values import value_class

__all__ = ["Alert"]


@value_class
class Alert:
    """One alert: how urgent, what kind, the message in words, and the figures behind it."""

    level: AlertLevel
    kind: str
    message: str
    instrument: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
