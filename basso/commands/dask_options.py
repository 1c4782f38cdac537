"""The Dask options `basso montecarlo` and `basso sweep` share: where the work runs, and Ctrl-C."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from basso.commands.common import positive_whole_number
from basso.research.engine import Cancelled, Engine, open_engine

__all__ = ["EXIT_CANCELLED", "add_engine_arguments", "engine_for", "run_cancellable"]

EXIT_CANCELLED = 130  # what a shell reports for a command stopped by Ctrl-C
_SCHEDULER = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")


def add_engine_arguments(parser: Any) -> None:
    """--workers and --scheduler."""
    parser.add_argument(
        "--workers",
        type=positive_whole_number,
        metavar="N",
        help="worker processes of the local Dask cluster (default: this machine's cores)",
    )
    parser.add_argument(
        "--scheduler",
        type=_scheduler,
        metavar="ADDRESS",
        help="run on an existing Dask cluster instead, e.g. tcp://10.0.0.5:8786 (its workers need "
        "the same basso installed)",
    )


@contextmanager
def engine_for(args: argparse.Namespace) -> Iterator[Engine]:
    """The engine the options ask for."""
    if args.scheduler is not None and args.workers is not None:
        from basso.cli import UsageError

        raise UsageError("--workers: the cluster at --scheduler has its own workers; give one or the other")
    with open_engine(args.scheduler, args.workers) as engine:
        yield engine


def run_cancellable(job: Callable[[], int]) -> int:
    """`job()`, or exit status 130 with one line on stderr if Ctrl-C cancelled the cluster's work."""
    try:
        return job()
    except Cancelled as stopped:
        Console(stderr=True).print(f"{stopped}; nothing written", markup=False, highlight=False)
        return EXIT_CANCELLED
    except KeyboardInterrupt:  # while the cluster was starting or closing: the `with` blocks closed it
        Console(stderr=True).print("cancelled before any result; nothing written", markup=False, highlight=False)
        return EXIT_CANCELLED


def _scheduler(text: str) -> str:
    if not _SCHEDULER.match(text):
        raise argparse.ArgumentTypeError(f"must be a scheduler address such as tcp://host:8786, got {text!r}")
    return text
