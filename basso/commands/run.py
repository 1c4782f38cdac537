"""`basso run`: serve webhooks and process signals; embedded PostgreSQL and Redis unless URLs are given."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from basso.commands.common import load_user_config, non_negative_number
from basso.config import Config
from basso.server import RunOptions, read_or_create_secret, serve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="serve webhooks and trade (embedded PostgreSQL/Redis by default)")
    parser.add_argument("--data-dir", type=Path, help="embedded servers and generated secrets (default basso-data/)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 5002)")
    parser.add_argument("--capital", type=non_negative_number,
                        help="deposited on first start if the ledger is empty (default 5000000)")
    parser.set_defaults(run=run)


def options_from(args: argparse.Namespace, config: Config) -> RunOptions:
    """Flags over environment variables over the configuration file."""
    data_dir: Path = args.data_dir or config.server.data_dir
    secret = os.environ.get("BASSO_WEBHOOK_SECRET", "")
    if not secret:
        secret, created = read_or_create_secret(data_dir / "webhook-secret")
        if created:
            print(f"basso: generated a webhook secret (kept in {data_dir / 'webhook-secret'}): {secret}")
    admin = os.environ.get("BASSO_ADMIN_TOKEN", "")
    if not admin:
        admin, created = read_or_create_secret(data_dir / "admin-token")
        if created:
            print(f"basso: generated an admin token (kept in {data_dir / 'admin-token'}): {admin}")
    capital = args.capital if args.capital is not None else config.server.initial_capital
    amount = Decimal(int(capital)) if float(capital).is_integer() else Decimal(repr(capital))
    return RunOptions(
        host=args.host or config.server.host, port=args.port or config.server.port, data_dir=data_dir.resolve(),
        database_url=os.environ.get("BASSO_DATABASE_URL", config.server.database_url),
        redis_url=os.environ.get("BASSO_REDIS_URL", config.server.redis_url),
        capital=amount, webhook_secret=secret, admin_token=admin)


def run(args: argparse.Namespace) -> int:
    config = load_user_config(args)
    api_key = os.environ.get("BASSO_OPENALGO_API_KEY", "")
    if config.broker.kind == "openalgo" and not api_key.strip():
        # Refused before anything starts: a broker that cannot be reached would leave every order unsent.
        print("basso run: broker.kind = 'openalgo' needs OpenAlgo's API key in the environment variable "
              "BASSO_OPENALGO_API_KEY (it is never read from the configuration file)", file=sys.stderr)
        return 2
    options = replace(options_from(args, config), openalgo_api_key=api_key.strip())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    return asyncio.run(serve(config, options))
