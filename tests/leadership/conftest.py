"""What the leadership tests share: a pool on a migrated database, big enough for a pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pipeline's database actors hold a connection each, its signal listener one more."""
    pool = await asyncpg.create_pool(migrated_database, min_size=1, max_size=8)
    assert pool is not None
    yield pool
    await pool.close()
