"""`basso run`: serve webhooks and process signals; embedded PostgreSQL and Redis unless URLs are given."""

from __future__ import annotations

import argparse
import logging
import os
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path

import uvloop

from basso.commands.common import load_user_config, non_negative_number, port_number
from basso.commands.preflight import capital_to_deposit, check_port, hold_data_dir
from basso.config import Config
from basso.server import RunOptions, read_or_create_secret, serve
from basso.store.pools import DatabaseUnavailable

log = logging.getLogger("basso.run")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="serve webhooks and trade (embedded PostgreSQL/Redis by default)")
    parser.add_argument("--data-dir", type=Path, help="embedded servers and generated secrets (default basso-data/)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="HTTP port (default 5002)")
    parser.add_argument(
        "--capital", type=non_negative_number, help="deposited on first start if the ledger is empty (default 5000000)"
    )
    parser.set_defaults(run=run)


def _rupees(amount: float) -> Decimal:
    return Decimal(int(amount)) if float(amount).is_integer() else Decimal(repr(amount))


def _secret(variable: str, path: Path, what: str) -> str:
    """$variable, else the secret kept in `path` (made on first use). The log names the file, never the secret."""
    value = os.environ.get(variable, "")
    if value:
        return value
    value, created = read_or_create_secret(path)
    log.info("%s %s in %s", "generated the" if created else "using the", what, path)
    return value


def options_from(args: argparse.Namespace, config: Config) -> RunOptions:
    """Flags over environment variables over the configuration file."""
    data_dir: Path = (args.data_dir or config.server.data_dir).resolve()
    database_url = os.environ.get("BASSO_DATABASE_URL", config.server.database_url)
    default_capital = _rupees(config.server.initial_capital)
    capital = capital_to_deposit(
        _rupees(args.capital) if args.capital is not None else default_capital,
        given=args.capital is not None,
        default=default_capital,
        data_dir=data_dir,
        database_url=database_url,
    )
    return RunOptions(
        host=args.host or config.server.host,
        port=args.port or config.server.port,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("BASSO_REDIS_URL", config.server.redis_url),
        capital=capital,
        webhook_secret=_secret("BASSO_WEBHOOK_SECRET", data_dir / "webhook-secret", "webhook secret"),
        admin_token=_secret("BASSO_ADMIN_TOKEN", data_dir / "admin-token", "admin token"),
    )


class _Queued(QueueHandler):
    """Queues each record as it is: the writer's thread formats it too (our log arguments are plain values)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


@contextmanager
def log_from_a_thread() -> Iterator[None]:
    """Log lines to stderr, written by a thread of their own: the event loop only queues them, so a slow reader
    (a pipe nobody drains fast enough, journald throttling) never holds up a webhook or a decision. Every line
    queued is written before the block ends."""
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root, queued = logging.getLogger(), _Queued(lines)
    root.setLevel(logging.INFO)
    root.addHandler(queued)
    writer = QueueListener(lines, stderr)
    writer.start()
    try:
        yield
    finally:
        root.removeHandler(queued)
        writer.stop()


def run(args: argparse.Namespace) -> int:
    config = load_user_config(args)
    api_key = os.environ.get("BASSO_OPENALGO_API_KEY", "").strip()
    if config.broker.kind == "openalgo" and not api_key:
        # Refused before anything starts: a broker that cannot be reached would leave every order unsent.
        print(
            "basso run: broker.kind = 'openalgo' needs OpenAlgo's API key in the environment variable "
            "BASSO_OPENALGO_API_KEY (it is never read from the configuration file)",
            file=sys.stderr,
        )
        return 2
    with log_from_a_thread():
        # A user's mistake is one line before anything starts, not a traceback after the databases have.
        check_port(args.host or config.server.host, args.port or config.server.port)
        with hold_data_dir((args.data_dir or config.server.data_dir).resolve()):
            options = replace(options_from(args, config), openalgo_api_key=api_key)
            try:
                # libuv's event loop: the same asyncio code, less of the loop's own time per round trip
                return uvloop.run(serve(config, options))
            except DatabaseUnavailable as failed:  # everything started was stopped on the way out
                unavailable = failed
    print(f"basso run: {unavailable}", file=sys.stderr)  # after every log line before it
    return 1
