"""The fake OpenAlgo on a real socket, a client of it, and a pool on a migrated database, for the broker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from basso.brokers.openalgo import OpenAlgoClient
from tests.brokers.fake_openalgo import FakeOpenAlgo


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAlgo]:
    server = FakeOpenAlgo()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(fake: FakeOpenAlgo) -> AsyncIterator[OpenAlgoClient]:
    async with OpenAlgoClient(base_url=fake.url, api_key=fake.api_key, timeout_s=5.0) as opened:
        yield opened


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await asyncpg.create_pool(migrated_database, min_size=1, max_size=4)
    assert opened is not None
    yield opened
    await opened.close()
