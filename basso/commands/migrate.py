"""`basso migrate`: apply the numbered SQL migrations to the database at $BASSO_DATABASE_URL (or --database)."""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg

from basso.cli import UsageError
from basso.commands.common import load_user_config
from basso.store.migrations import migrate


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("migrate", help="apply database migrations (basso run also does at startup)")
    parser.add_argument("--database", help="PostgreSQL URL (default $BASSO_DATABASE_URL or server.database_url)")
    parser.set_defaults(run=run)


async def _migrate(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> int:
    config = load_user_config(args)
    url = args.database or os.environ.get("BASSO_DATABASE_URL") or config.server.database_url
    if not url:
        raise UsageError(
            "--database: no PostgreSQL URL given (set --database or BASSO_DATABASE_URL; "
            "basso run migrates its embedded database itself)"
        )
    try:
        applied = asyncio.run(_migrate(url))
    except (OSError, asyncpg.PostgresError) as exc:
        raise UsageError(f"--database: cannot migrate {url}: {exc}") from None
    print(f"applied migrations: {', '.join(map(str, applied))}" if applied else "schema is up to date")
    return 0
