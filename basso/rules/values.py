"""`value_class`: the decorator of the values the trading rules build and hand on for every signal.

A `value_class` is a slotted, keyword-only dataclass that is immutable to the type checker — mypy --strict (CI
runs it) refuses any assignment to a field, exactly as for ``frozen=True`` — but not policed at run time. A
frozen dataclass polices it by setting every field through ``object.__setattr__`` in ``__init__``, about 0.1 µs
a field on every construction. The rules build some fifteen such values for every signal (signal, book, layers,
measures, decision, fills, settlement), and that check alone was a fifth of a backtest's time over a million
bars. So the rules' own values keep the guarantee where it costs nothing; configuration, messages between
actors and everything else built once stay ``frozen=True`` and checked at run time.

Equal values hash equal, as frozen dataclasses do (``unsafe_hash``, safe because nothing assigns a field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

__all__ = ["value_class"]

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def value_class(cls: type[_T]) -> type[_T]:
    """`cls` as a slotted, keyword-only dataclass that the type checker treats as frozen."""
    return dataclass(slots=True, kw_only=True, unsafe_hash=True)(cls)
