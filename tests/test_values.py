"""The rules' values (`basso.rules.values.value_class`): immutable to the type checker, cheap at run time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from mypy import api as mypy_api

from basso.rules.book import Book
from basso.rules.layers import Layer


def _layer(**changes: object) -> Layer:
    figures: dict[str, object] = {
        "instrument": "GOLD_MINI",
        "layer": 1,
        "lots": 3,
        "entry_price": 70000.0,
        "initial_stop": 69000.0,
        "stop": 69500.0,
        "highest_close": 70400.0,
        "point_value": 10.0,
    }
    return Layer(**(figures | changes))  # type: ignore[arg-type]


def test_the_type_checker_refuses_to_assign_a_field(tmp_path: Path) -> None:
    # CI runs mypy --strict over basso/; this is the guarantee it gives, shown on the book and a layer.
    program = tmp_path / "mutate.py"
    program.write_text(
        "from decimal import Decimal\n"
        "from basso.rules.book import Book\n"
        "from basso.rules.layers import Layer\n"
        "book = Book(closed_equity=Decimal(1), high_water=Decimal(1), equity_peak=1.0)\n"
        "book.equity_peak = 2.0\n"
        "layer = Layer(instrument='X', layer=1, lots=1, entry_price=2.0, initial_stop=1.0, stop=1.0,\n"
        "              highest_close=2.0, point_value=1.0)\n"
        "layer.stop = 1.5\n"
    )
    report, _, status = mypy_api.run(["--strict", "--cache-dir", str(tmp_path / "cache"), str(program)])
    assert status == 1
    assert 'mutate.py:5: error: Property "equity_peak" defined in "Book" is read-only' in report
    assert 'mutate.py:8: error: Property "stop" defined in "Layer" is read-only' in report


def test_values_are_slotted_keyword_only_and_hash_as_they_compare() -> None:
    layer = _layer()
    assert _layer() == layer
    assert hash(_layer()) == hash(layer)
    assert _layer(stop=69600.0) != layer
    assert {layer, _layer()} == {layer}
    with pytest.raises(TypeError):
        Layer("GOLD_MINI", 1, 3, 70000.0, 69000.0, 69500.0, 70400.0, 10.0)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        layer.note = "no such field"  # type: ignore[attr-defined]


def test_the_books_copies_keep_every_field_they_do_not_change() -> None:
    # Book copies itself without dataclasses.replace (it is on every signal's path); a field added to Book
    # and forgotten there would be dropped silently. Every field here differs from its default.
    book = Book(
        closed_equity=Decimal("5000000.00"),
        high_water=Decimal("5100000.00"),
        equity_peak=5_200_000.0,
        layers=(_layer(),),
        atr={"GOLD_MINI": 120.0},
        price={"GOLD_MINI": 70500.0},
        marked_at={"GOLD_MINI": datetime(2026, 1, 5, 10, tzinfo=UTC)},
        bar_at={"GOLD_MINI": datetime(2026, 1, 5, 9, tzinfo=UTC)},
        kill_switch=True,
        version=7,
        day=date(2026, 1, 5),
        day_peak=5_150_000.0,
        earlier_peaks=((date(2026, 1, 2), 5_200_000.0),),
    )
    defaults = Book(closed_equity=Decimal(0), high_water=Decimal(0), equity_peak=0.0)
    for field in dataclasses.fields(Book):
        assert getattr(book, field.name) != getattr(defaults, field.name), field.name

    marked = book.marked("GOLD_MINI", price=70600.0, atr=125.0)
    assert marked == dataclasses.replace(book, price={"GOLD_MINI": 70600.0}, atr={"GOLD_MINI": 125.0})
    moved = book.with_layers([_layer(layer=2), _layer()])
    assert moved == dataclasses.replace(book, layers=(_layer(), _layer(layer=2)))
