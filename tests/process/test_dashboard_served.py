"""`basso run` serves the dashboard itself: the page names this instance as the leader with its lease, and an
open page's event stream hears of a commit (the server's on_commit wakes it)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from basso.embedded import EmbeddedRedis
from tests.processes import SECRET, running

pytestmark = pytest.mark.timeout(90)


async def test_the_running_instance_serves_a_live_dashboard(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    # The stream looks on its own only once a minute: an event within 5 s can only come from the commit's wake-up.
    settings = tmp_path / "basso.toml"
    settings.write_text("[dashboard]\npoll_s = 60\n")
    async with running(
        fresh_database, redis_server.url, tmp_path / "data", {"BASSO_CONFIG": str(settings)}
    ) as instance:
        await instance.wait_log("recover")  # leads: the page is the leader's
        async with instance.session.get(f"{instance.url}/") as response:
            assert response.status == 200
            page = await response.text()
        assert re.search(r"lease renewed \d+ s ago", page), page[:2000]
        since = re.search(r'data-fingerprint="([^"]+)"', page)
        assert since is not None
        async with instance.session.get(f"{instance.url}/dashboard/events", params={"since": since[1]}) as stream:
            body = {
                "type": "MARKET_DATA",
                "instrument": "GOLD_MINI",
                "price": 78500,
                "atr": 450,
                "timestamp": datetime.now(UTC).isoformat(),
                "signal_id": "bar",
                "secret": SECRET,
            }
            status, reply = await instance.post(orjson.dumps(body))
            assert (status, reply["status"]) == (200, "accepted")
            event = await asyncio.wait_for(stream.content.readuntil(b"\r\n\r\n"), 5)
            assert event.startswith(b"event: changed\r\n")
        assert await instance.terminate() == 0
