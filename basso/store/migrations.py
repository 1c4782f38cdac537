"""Numbered SQL migrations from `sql/`, applied in order and recorded in `schema_migrations`.

The files ship inside the package as `basso._migrations` (setup.py maps it onto `sql/`), so a wheel carries
them and an editable install reads the repository's own.

Safe to run twice and from two processes at once: a session advisory lock serialises runners, and each
file is applied in its own transaction together with its version row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from basso.enums import DATABASE_ENUMS
from basso.store.types import Connection

MIGRATIONS_PACKAGE = "basso._migrations"
# An arbitrary constant naming "Basso migrations" among advisory locks.
MIGRATION_LOCK = 0x6261_7373_6F  # "basso"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def shipped_migrations() -> Traversable:
    """The folder of migrations installed with the package."""
    return resources.files(MIGRATIONS_PACKAGE)


def discover(sql_dir: Traversable | None = None) -> list[Migration]:
    """The migrations in `sql_dir` (default: the shipped ones), in version order; a gap or a duplicate number
    is refused."""
    sql_dir = sql_dir or shipped_migrations()
    if not sql_dir.is_dir():
        raise RuntimeError(f"migrations folder not found: {sql_dir}")
    found: list[Migration] = []
    for path in sorted(sql_dir.iterdir(), key=lambda entry: entry.name):
        match = _FILE.match(path.name)
        if match is None:
            if path.name.endswith(".sql"):
                raise RuntimeError(f"{path.name}: migration files are named NNN_name.sql")
            continue
        found.append(Migration(version=int(match[1]), name=match[2], sql=path.read_text("utf-8")))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {migration.version:03d}_{migration.name}: expected number {expected:03d}")
    return found


async def migrate(conn: Connection, sql_dir: Traversable | None = None) -> list[int]:
    """Apply every migration not yet applied; return the versions applied now."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in discover(sql_dir):
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
                )
            applied_now.append(migration.version)
        await _sync_enums(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now


async def _sync_enums(conn: Connection) -> None:
    # Values are only ever added: a removed state may still be referenced by history rows.
    async with conn.transaction():
        for table, enum in DATABASE_ENUMS.items():
            await conn.executemany(
                f"INSERT INTO {table} (name) VALUES ($1) ON CONFLICT DO NOTHING", [(member.value,) for member in enum]
            )


async def current_version(conn: Connection) -> int:
    """The newest applied migration, 0 if none."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
