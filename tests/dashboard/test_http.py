"""The dashboard over plain HTTP: the page and its assets, the event stream, a graceful stop with a page open,
and the figures as a trader in India reads them."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from basso.formatting import age, rupees
from basso.http.app import build_app
from tests.dashboard.conftest import PANELS, Dashboard


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (5_000_000, "₹50,00,000.00"),
        (10_000_000, "₹1,00,00,000.00"),
        (123, "₹123.00"),
        ("1234.5", "₹1,234.50"),
        (-12_000, "−₹12,000.00"),
        ("0.499", "₹0.50"),
        (123456789.12, "₹12,34,56,789.12"),
    ],
)
def test_rupees_are_grouped_in_lakhs_and_crores(amount: int | float | str, shown: str) -> None:
    assert rupees(amount) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "never"),
        (-3, "0 s"),
        (42.9, "42 s"),
        (420, "7 min"),
        (3 * 3600 + 5 * 60, "3 h 05 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_ages_read_in_the_largest_unit_that_reads_well(seconds: float | None, shown: str) -> None:
    assert age(seconds) == shown


async def test_the_page_and_its_vendored_assets_are_served_by_basso_itself(dashboard: Dashboard) -> None:
    async with dashboard.session.get(dashboard.url) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    for panel in PANELS:
        assert f'id="{panel}"' in page
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert len(assets) == 6
    for asset in assets:
        assert "?v=" in asset  # versioned: a new release is never served from a stale cache
        async with dashboard.session.get(dashboard.server.make_url(asset)) as response:
            assert response.status == 200, asset
    assert "http://" not in page
    assert "https://" not in page


async def test_only_the_vendored_assets_are_served_from_static(dashboard: Dashboard) -> None:
    base = str(dashboard.server.make_url("/")).rstrip("/")
    for path in ("/static/..%2Fdashboard.py", "/static/%2E%2E/templates/panels.html", "/static/nothing.js"):
        async with dashboard.session.get(URL(base + path, encoded=True)) as response:
            assert response.status in (403, 404), path


async def _next_event(stream: aiohttp.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readuntil(b"\r\n\r\n"), 5)).decode()


async def test_the_event_stream_says_changed_once_the_facts_differ_from_the_page(dashboard: Dashboard) -> None:
    async with dashboard.session.get(dashboard.url) as response:
        since = re.search(r'data-fingerprint="([^"]+)"', await response.text())
    assert since is not None
    async with dashboard.session.get(
        dashboard.server.make_url("/dashboard/events"), params={"since": since[1]}
    ) as stream:
        assert stream.content_type == "text/event-stream"
        waiting = asyncio.create_task(_next_event(stream.content))
        await dashboard.signal(
            type="MARKET_DATA",
            instrument="GOLD_MINI",
            price=78500,
            atr=450,
            timestamp="2026-11-25T10:29:00",
            signal_id="bar",
        )
        event = await waiting
    assert event.startswith("event: changed\r\n")


async def test_a_graceful_stop_with_a_page_open_does_not_wait_for_the_page(dashboard: Dashboard) -> None:
    server = TestServer(build_app(dashboard.services), host="127.0.0.1")
    await server.start_server()
    async with dashboard.session.get(server.make_url("/dashboard/events")) as stream:
        await _next_event(stream.content)  # connected: the first event states the facts
        await asyncio.wait_for(server.close(), 5)  # aiohttp would wait 60 s for a stream that never ends


async def test_an_order_without_its_answer_is_shown_and_notified_only_once_filled(dashboard: Dashboard) -> None:
    """The order path of a real broker (issue 13) leaves orders `sent` or `unknown` for a while: the page lists
    them, and the outbox gains a notification only when one is filled."""
    pool = dashboard.services.pool
    order = await pool.fetchval(
        "INSERT INTO orders (client_id, broker, instrument, symbol, side, lots, quantity, price, status, epoch)"
        " VALUES ('c-1', 'openalgo', 'GOLD_MINI', 'GOLDM05JAN27FUT', 'BUY', 2, 2, 78500, 'unknown', 1) RETURNING id"
    )
    async with dashboard.session.get(dashboard.url) as response:
        page = await response.text()
    row = re.search(rf'<tr data-order="{order}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "GOLDM05JAN27FUT" in row[1]
    assert ">unknown<" in row[1]
    # The orders' rows only: the outbox also holds the alert of this instance gaining the lead.
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE source = 'order'") == 0
    await pool.execute("UPDATE orders SET status = 'filled', fill_price = 78510 WHERE id = $1", order)
    await pool.execute("UPDATE orders SET updated_at = now() WHERE id = $1", order)  # not a new fill
    orders = await pool.fetch("SELECT source, source_id FROM notifications WHERE source = 'order'")
    assert [tuple(row) for row in orders] == [("order", order)]
    async with dashboard.session.get(dashboard.url) as response:
        assert f'data-order="{order}"' not in await response.text()
