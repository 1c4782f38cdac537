"""The `basso` command: a thin dispatcher over one module per sub-command in `basso.commands`.

Each command module exposes `register(subparsers)`, which adds its parser and sets `run` as the handler:
`run(args) -> int` returns the exit status. Bad arguments exit with status 2 and one line naming the
argument and the problem; a traceback is never the answer to a user's mistake.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from basso.commands.common import load_user_config
from basso.config import ConfigError

# Every sub-command and the module in basso.commands that registers it, in the order `basso --help` lists them.
COMMANDS = {
    "run": "run",
    "send": "send",
    "status": "status",
    "kill-switch": "controls",
    "flatten": "controls",
    "capital": "controls",
    "roll": "controls",
    "drawdown": "controls",
    "order": "controls",
    "migrate": "migrate",
    "size": "size",
    "contract": "contract",
    "backtest": "backtest",
    "montecarlo": "montecarlo",
    "sweep": "sweep",
    "bars": "bars",
}


class UsageError(Exception):
    """A user-facing argument error: reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> Parser:
    """The parser for `command` alone when it names one, else for every command (help, an unknown command).

    A command imports only its own module: `basso run` starts without the research libraries (Dask, matplotlib,
    numpy: over a second of imports on a small machine, paid again by every restart and failover), and the kill
    switch answers without them.
    """
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    parser = Parser(prog="basso", description="A Tom Basso style portfolio manager for futures.")
    parser.add_argument(
        "--config", metavar="FILE", help="TOML file merged over the shipped defaults (default: $BASSO_CONFIG if set)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in dict.fromkeys(modules):
        importlib.import_module(f"basso.commands.{module}").register(sub)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The sub-command `argv` names, skipping the global options; None when help comes first or none is named."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif word in ("-h", "--help"):
            return None
        elif not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(command_in(words)).parse_args(words)
    try:
        load_user_config(args)  # every command reads the same configuration, and a bad one stops them all alike
        status: int = args.run(args)
    except UsageError as exc:
        print(f"basso {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"basso: configuration error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    # Under `python -m basso.cli` this module is __main__, while the commands raise basso.cli.UsageError:
    # run the imported module's main so the except clauses name the same classes the commands raise.
    from basso.cli import main as package_main

    sys.exit(package_main())
