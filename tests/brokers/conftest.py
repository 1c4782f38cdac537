"""The fake OpenAlgo on a real socket and a client of it, for the broker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
