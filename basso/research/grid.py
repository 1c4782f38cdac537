"""A sweep's grid: names and values given as `--grid NAME=V1,V2 …` or in a TOML file, turned into the real
configuration keys of `basso/defaults.toml` and validated through the same checks as a user's config file.

Short names for the settings a Basso trader sweeps most (`ALIASES`), or any full key of the sizing tables
(`portfolio.max_risk_pct`, `drawdown.halt_from_pct`, `instruments.GOLD_MINI.trailing_stop_atr`,
`instruments.*.max_pyramids` for every replayed instrument). `risk_pct` and `vol_pct` set an instrument's
initial risk or volatility and move its ongoing (peel-off) limit with it, at the ratio the configuration has
between the two (2× for risk by default), because the rules require ongoing ≥ initial; name
`ongoing_risk_pct` / `ongoing_vol_pct` in the grid to set those yourself.

An unknown name or a value the configuration refuses is a `GridError`: one line naming it.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from basso.config import Config, ConfigError, config_with

__all__ = [
    "ALIASES",
    "Configuration",
    "Grid",
    "GridError",
    "Value",
    "expand",
    "parse_grid_args",
    "read_grid_file",
    "snippet",
]

# Short name → the key it sets; `*` is every replayed instrument.
ALIASES: dict[str, str] = {
    "risk_pct": "instruments.*.initial_risk_pct",
    "vol_pct": "instruments.*.initial_vol_pct",
    "ongoing_risk_pct": "instruments.*.ongoing_risk_pct",
    "ongoing_vol_pct": "instruments.*.ongoing_vol_pct",
    "stop_atr": "instruments.*.initial_stop_atr",
    "trail_atr": "instruments.*.trailing_stop_atr",
    "max_pyramids": "instruments.*.max_pyramids",
    "equity_mode": "portfolio.equity_mode",
    "max_risk_pct": "portfolio.max_risk_pct",
    "max_vol_pct": "portfolio.max_vol_pct",
    "margin_budget_pct": "portfolio.margin_budget_pct",
    "pyramid_ratio": "pyramid.discipline_ratio",
    "pyramid_spacing": "pyramid.atr_spacing",
    "atr_period": "backtest.atr_period",
}
# An initial limit whose ongoing limit follows it (unless the grid names the ongoing one too).
_FOLLOWERS = {"initial_risk_pct": "ongoing_risk_pct", "initial_vol_pct": "ongoing_vol_pct"}
_SWEEPABLE = ("portfolio", "pyramid", "drawdown", "paper", "backtest", "instruments")

Value = bool | int | float | str
Grid = list[tuple[str, list[Value]]]  # (name as given, its values), in the order given


class GridError(ValueError):
    """A grid that cannot be swept; the message is one line naming the setting and the problem."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration:
    """One point of the grid: the settings as named, the keys they set, and the validated configuration."""

    index: int
    settings: dict[str, Value]  # grid name → value
    keys: dict[str, Value]  # full dotted key → value, as a config file would hold it
    config: Config


def parse_grid_args(items: Sequence[str]) -> Grid:
    """`["risk_pct=0.5,1", "equity_mode=closed,blended"]` as a grid (values still text-typed by `expand`)."""
    grid: Grid = []
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise GridError(f"--grid {item}: expected NAME=VALUE[,VALUE…]")
        texts = [v.strip() for v in values.split(",")]
        if not all(texts):
            raise GridError(f"--grid {item}: an empty value")
        grid.append((name, list(texts)))
    return grid


def read_grid_file(path: Path) -> Grid:
    """A TOML grid: `NAME = [values]` (or one value) under `[grid]` or at the top; tables nest full keys
    (`[grid.portfolio] max_risk_pct = [10, 15]`)."""
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise GridError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{path}: not valid TOML: {exc}") from None
    table = raw.get("grid", raw) if isinstance(raw.get("grid", raw), Mapping) else raw
    grid: Grid = []
    for name, values in _flatten(table, ""):
        listed = values if isinstance(values, list) else [values]
        if not listed or not all(isinstance(v, bool | int | float | str) for v in listed):
            raise GridError(f"{path}: {name}: give a value or a list of values, got {values!r}")
        grid.append((name, list(listed)))
    if not grid:
        raise GridError(f"{path}: no settings in the grid")
    return grid


def _flatten(table: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            found += _flatten(value, f"{prefix}{key}.")
        else:
            found.append((f"{prefix}{key}", value))
    return found


def expand(
    grid: Grid, raw: Mapping[str, Any], base: Mapping[str, Value], instruments: Sequence[str]
) -> list[Configuration]:
    """Every combination of `grid`'s values (the last name varying fastest), each as the keys it sets over
    `raw` (the user's configuration tables) and `base` (keys the command line set, e.g. the commission), and
    validated. `instruments` are the replayed ones, which `*` stands for."""
    names = [name for name, _ in grid]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GridError(f"--grid {duplicates[0]}: given twice")
    if not grid:
        raise GridError("--grid: no settings to sweep")
    resolved = {name: _resolve(name, raw, instruments) for name in names}
    typed = {name: [_typed(name, value, raw, resolved[name][0]) for value in values] for name, values in grid}
    named_keys = {key for keys in resolved.values() for key in keys}
    for name, values in typed.items():  # each value alone first, so a bad one is named by itself
        for value in values:
            keys = _keys({name: value}, resolved, raw, base, named_keys)
            _validate(raw, keys, f"--grid {name}={_shown(value)}")
    configurations = []
    for index, combination in enumerate(itertools.product(*(typed[name] for name in names))):
        settings = dict(zip(names, combination, strict=True))
        keys = _keys(settings, resolved, raw, base, named_keys)
        where = "--grid " + " ".join(f"{n}={_shown(v)}" for n, v in settings.items())
        configurations.append(
            Configuration(index=index, settings=settings, keys=keys, config=_validate(raw, keys, where))
        )
    return configurations


def _resolve(name: str, raw: Mapping[str, Any], instruments: Sequence[str]) -> list[str]:
    """The full keys `name` sets."""
    key = ALIASES.get(name, name)
    parts = key.split(".")
    if parts[0] not in _SWEEPABLE or len(parts) < 2:
        raise GridError(
            f"--grid {name}: unknown setting (known: {', '.join(ALIASES)}, or a full key of "
            f"[{'], ['.join(_SWEEPABLE)}] such as portfolio.max_risk_pct)"
        )
    if parts[0] == "instruments":
        if len(parts) != 3:
            raise GridError(f"--grid {name}: an instrument key is instruments.NAME.key or instruments.*.key")
        table = raw.get("instruments", {})
        targets = list(instruments) if parts[1] == "*" else [parts[1].upper()]
        keys = []
        for target in targets:
            if target not in table:
                raise GridError(f"--grid {name}: no instrument {target} in the configuration")
            keys.append(f"instruments.{target}.{parts[2]}")
    else:
        keys = [key]
    for full in keys:
        value = _lookup(raw, full)
        if value is None or isinstance(value, Mapping | list):
            raise GridError(f"--grid {name}: {full} is not a setting of the configuration")
    return keys


def _typed(name: str, value: Value, raw: Mapping[str, Any], key: str) -> Value:
    """`value` (text from the command line, or a TOML value) as the configuration's own key holds one."""
    current = _lookup(raw, key)
    if not isinstance(value, str) or isinstance(current, str):
        return value
    if isinstance(current, bool):
        if value.lower() not in ("true", "false"):
            raise GridError(f"--grid {name}={value}: must be true or false")
        return value.lower() == "true"
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise GridError(f"--grid {name}={value}: must be a number") from None
    if not number.is_finite():
        raise GridError(f"--grid {name}={value}: must be a finite number")
    return int(number) if number == number.to_integral_value() and "." not in value else float(number)


def _keys(
    settings: Mapping[str, Value],
    resolved: Mapping[str, list[str]],
    raw: Mapping[str, Any],
    base: Mapping[str, Value],
    named: set[str],
) -> dict[str, Value]:
    keys: dict[str, Value] = dict(base)
    for name, value in settings.items():
        for key in resolved[name]:
            keys[key] = value
            table, _, leaf = key.rpartition(".")
            follower = _FOLLOWERS.get(leaf)
            if follower is not None and f"{table}.{follower}" not in named and isinstance(value, int | float):
                # The ongoing limit keeps its ratio to the initial one, in exact decimals (0.3 × 0.7 ÷ 0.5 = 0.42).
                initial, ongoing = _lookup(raw, key), _lookup(raw, f"{table}.{follower}")
                ratio = Decimal(repr(ongoing)) / Decimal(repr(initial))
                keys[f"{table}.{follower}"] = float(Decimal(repr(value)) * ratio)
    return keys


def _validate(raw: Mapping[str, Any], keys: Mapping[str, Value], where: str) -> Config:
    try:
        return config_with(raw, _nest(keys))
    except ConfigError as exc:
        raise GridError(f"{where}: {exc}") from None


def _nest(keys: Mapping[str, Value]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in keys.items():
        *tables, leaf = key.split(".")
        node = nested
        for table in tables:
            node = node.setdefault(table, {})
        node[leaf] = value
    return nested


def _lookup(raw: Mapping[str, Any], key: str) -> Any:
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _shown(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def snippet(configuration: Configuration, heading: str, *, skip: Sequence[str] = ()) -> str:
    """The keys of `configuration` as a TOML file for `basso --config` (keys in `skip` left out: settings the
    command line gave, not the grid)."""
    tables: dict[str, list[str]] = {}
    for key, value in configuration.keys.items():
        if key in skip:
            continue
        table, _, leaf = key.rpartition(".")
        tables.setdefault(table, []).append(f"{leaf} = {_toml(value)}")
    body = "\n\n".join(f"[{table}]\n" + "\n".join(lines) for table, lines in tables.items())
    return f"# {heading}\n{body}\n"


def _toml(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
