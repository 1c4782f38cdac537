"""Shared fixtures: one real embedded PostgreSQL and one real embedded Redis per test session.

Both run from the same wheels `basso run` uses, in a temporary directory removed at the end. Tests that
need isolation create their own database (`fresh_database`) or flush Redis; nothing is mocked.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from basso.config import Config, load_config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from basso.store.migrations import migrate

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def config() -> Config:
    """The shipped default configuration."""
    return load_config()


@contextmanager
def server_directory(prefix: str) -> Iterator[Path]:
    """A directory for a database server, outside pytest's private (0700) temporary tree.

    PostgreSQL runs as an unprivileged user when the tests run as root, and must traverse the path to
    its data; pytest re-tightens its own temporary root whenever another session starts.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL server for the whole session (fsync off: tests never outlive the machine)."""
    with server_directory("basso-test-pg-") as directory:
        server = EmbeddedPostgres(directory / "data", fsync=False)
        server.start()
        yield server
        server.stop(mode="immediate")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A real Redis server for the whole session."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


async def _create_database(postgres: EmbeddedPostgres, template: str = "template0") -> str:
    # Databases are not dropped after each test: DROP forces a checkpoint (slow), and the whole cluster
    # is thrown away at the end of the session anyway.
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def fresh_database(postgres: EmbeddedPostgres) -> str:
    """The URL of a new, empty database on the session's server."""
    return await _create_database(postgres)


_MIGRATED_TEMPLATE = "basso_migrated"


@pytest.fixture
async def migrated_database(postgres: EmbeddedPostgres) -> str:
    """The URL of a new database with every migration applied (copied from a template made once)."""
    admin = await asyncpg.connect(postgres.url)
    try:
        if not await admin.fetchval("SELECT true FROM pg_database WHERE datname = $1", _MIGRATED_TEMPLATE):
            await admin.execute(f'CREATE DATABASE "{_MIGRATED_TEMPLATE}" TEMPLATE template0')
            conn = await asyncpg.connect(postgres.url.rsplit("/", 1)[0] + f"/{_MIGRATED_TEMPLATE}")
            try:
                await migrate(conn)
            finally:
                await conn.close()
    finally:
        await admin.close()
    return await _create_database(postgres, _MIGRATED_TEMPLATE)


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a migrated database, big enough for a pipeline: its database actors hold a connection each, its
    signal listener one more."""
    opened = await asyncpg.create_pool(migrated_database, min_size=1, max_size=8)
    assert opened is not None
    yield opened
    await opened.close()


@pytest.fixture
async def redis_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    """A client of the session's Redis, flushed before the test."""
    client = aioredis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()
