"""Argument types and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import math
import os
from datetime import date
from pathlib import Path

from basso.config import Config, Instrument, load_config


def instrument_arg(config: Config, name: str, option: str = "--instrument") -> Instrument:
    """The configured instrument `name`; a UsageError naming `option` and the known instruments otherwise."""
    from basso.cli import UsageError  # the dispatcher imports the commands, not the other way round

    try:
        return config.instrument(name)
    except KeyError as exc:
        raise UsageError(f"{option}: {exc.args[0]}") from None


def load_user_config(args: argparse.Namespace) -> Config:
    """The configuration named by --config or $BASSO_CONFIG, else the shipped defaults.

    `basso.cli.main` loads it once for every command before the command runs, so a missing file or a mistake
    in it is refused the same way (one line, exit status 2) whichever command was asked for; the commands
    then get that same value from here.
    """
    loaded: Config | None = getattr(args, "loaded_config", None)
    if loaded is None:
        loaded = load_config(user_config_path(args))
        args.loaded_config = loaded
    return loaded


def user_config_path(args: argparse.Namespace) -> Path | None:
    """The file named by --config or $BASSO_CONFIG, if any."""
    path = getattr(args, "config", None) or os.environ.get("BASSO_CONFIG")
    return Path(path) if path else None


def finite_number(text: str) -> float:
    """A finite decimal number (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """A finite number above zero (argparse type)."""
    value = finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def non_negative_number(text: str) -> float:
    """A finite number of zero or more (argparse type)."""
    value = finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def whole_number(text: str) -> int:
    """An integer written without a decimal point (argparse type)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def positive_whole_number(text: str) -> int:
    """A whole number of 1 or more (argparse type)."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port 1-65535 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 1-65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1-65535, got {value}")
    return value


def iso_date(text: str) -> date:
    """A calendar date YYYY-MM-DD (argparse type)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, got {text!r}") from None
