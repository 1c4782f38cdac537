"""The numbers the docs give are the shipped defaults: docs/rules.md's instrument table, and every configuration
key the docs quote with a value (`margin_budget_pct` (60 %), `[pyramid] max_risk_pct` (12 %), `lease_ttl_s` =
3 s), against basso/defaults.toml."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = tomllib.loads((ROOT / "basso" / "defaults.toml").read_text(encoding="utf-8"))
RULES = (ROOT / "docs/rules.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))}
INSTRUMENTS = ("BANK_NIFTY", "GOLD_MINI", "COPPER", "SILVER_MINI")

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_QUOTED_VALUE = re.compile(r"`(?:\[([a-z.]+)\] )?([a-z_]+)`(?: \(| = )(\d[\d,]*(?:\.\d+)?)")


def numbers(cell: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(cell)]


def sections(table: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every table of the defaults with its dotted name (instruments included)."""
    yield path, table
    for key, value in table.items():
        if isinstance(value, dict):
            yield from sections(value, f"{path}.{key}" if path else key)


def instrument_table() -> dict[str, list[str]]:
    """docs/rules.md §1's table: the first cell (its keys) → one cell per instrument."""
    start = RULES.index("| Key | BANK_NIFTY | GOLD_MINI | COPPER | SILVER_MINI |")
    rows = {}
    for line in RULES[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize(
    ("row", "keys"),
    [
        ("`margin_per_lot`", ("margin_per_lot",)),
        ("`tick`", ("tick",)),
        ("`initial_risk_pct` / `ongoing_risk_pct`", ("initial_risk_pct", "ongoing_risk_pct")),
        ("`initial_vol_pct` / `ongoing_vol_pct`", ("initial_vol_pct", "ongoing_vol_pct")),
        ("`initial_stop_atr` / `trailing_stop_atr`", ("initial_stop_atr", "trailing_stop_atr")),
        ("`max_pyramids` (layers after the base)", ("max_pyramids",)),
        ("`roll_days` (roll when fewer calendar days to expiry)", ("roll_days",)),
    ],
)
def test_the_instrument_table_is_the_defaults(row: str, keys: tuple[str, ...]) -> None:
    cells = instrument_table()[row]
    for name, cell in zip(INSTRUMENTS, cells, strict=True):
        instrument = DEFAULTS["instruments"][name]
        assert numbers(cell) == [float(instrument[k]) for k in keys], (name, row, cell)


def test_the_point_values_in_the_table_are_lot_size_over_quote_unit() -> None:
    cells = instrument_table()["`lot_size`, `quote_unit` ⇒ point value"]
    for name, cell in zip(INSTRUMENTS, cells, strict=True):
        instrument = DEFAULTS["instruments"][name]
        lot, unit = instrument["lot_size"], instrument["quote_unit"]
        assert numbers(cell) == [lot, unit, lot / unit], (name, cell)


def test_the_bank_nifty_lot_size_history_is_the_defaults() -> None:
    history = DEFAULTS["instruments"]["BANK_NIFTY"]["lot_size_history"]
    paragraph = RULES[RULES.index("**Bank Nifty's lot size changes over time**") :]
    paragraph = paragraph[: paragraph.index("\n\n")]
    found = re.findall(r"(\d{4}-\d{2}-\d{2}) (\d+)", " ".join(paragraph.split()))
    assert found == [(str(h["from"]), str(h["lots"])) for h in history]


def test_every_key_quoted_with_a_value_has_that_value() -> None:
    checked, wrong = 0, []
    every = list(sections(DEFAULTS))
    for name, text in DOCS.items():
        for section, key, shown in _QUOTED_VALUE.findall(" ".join(text.split())):
            value = float(shown.replace(",", ""))
            candidates = [
                t[key]
                for path, t in every
                if key in t
                and (not section or path == section)
                and isinstance(t[key], int | float)
                and not isinstance(t[key], bool)
            ]
            checked += 1
            if value not in candidates:
                wrong.append(
                    f"{name}: `{section + ' ' if section else ''}{key}` ({shown}) but defaults.toml has "
                    f"{candidates or 'no such key'}"
                )
    assert wrong == []
    assert checked >= 20  # the docs do quote their numbers this way: the check is not vacuous
