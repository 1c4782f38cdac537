"""The dashboard's broker lights and working orders (docs/rules.md §8, §10), through the real app and a real client:
the broker session and the newest reconciliation as the header shows them, and the orders not yet done."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from basso.store.dashboard import fingerprint
from basso.store.reconciliation import record_reconciliation
from tests.dashboard.conftest import NOW, Dashboard

EPOCH = 1  # the openalgo_dashboard fixture's instance took the fence first


async def lights(dashboard: Dashboard) -> dict[str, tuple[str, str]]:
    """The header's broker session and reconciliation lights as the page shows them: (colour, words)."""
    async with dashboard.session.get(dashboard.url) as response:
        assert response.status == 200
        page = await response.text()
    shown = {}
    for name, title in (("broker", "Broker session"), ("reconciliation", "Reconciliation")):
        found = re.search(rf'<li class="light (\w+)" id="light-{name}"><b>{title}</b> (.*?)</li>', page, re.S)
        assert found is not None, name
        shown[name] = (found[1], html.unescape(found[2]))
    return shown


async def reconciled(
    dashboard: Dashboard, *, ago_s: int, breaks: list[dict[str, Any]] | None = None, error: str = ""
) -> None:
    """A reconciliation recorded `ago_s` seconds before the page's clock, as the order desk records one."""
    async with dashboard.services.pool.acquire() as conn:
        at = NOW - timedelta(seconds=ago_s)
        await record_reconciliation(conn, epoch=EPOCH, at=at, breaks=breaks or [], error=error)


async def test_the_paper_broker_has_no_session_and_nothing_to_reconcile(dashboard: Dashboard) -> None:
    assert await lights(dashboard) == {
        "broker": ("grey", "paper broker"),
        "reconciliation": ("grey", "not needed: the paper broker holds nothing of its own"),
    }


async def test_before_the_first_check_both_lights_wait(openalgo_dashboard: Dashboard) -> None:
    assert await lights(openalgo_dashboard) == {
        "broker": ("yellow", "OpenAlgo: not checked yet"),
        "reconciliation": ("yellow", "none yet"),
    }


async def test_a_check_that_matched_is_green_with_its_age(openalgo_dashboard: Dashboard) -> None:
    await reconciled(openalgo_dashboard, ago_s=90)  # under 120 s reads in seconds
    assert await lights(openalgo_dashboard) == {
        "broker": ("green", "OpenAlgo: position book read 90 s ago"),
        "reconciliation": ("green", "matched 90 s ago"),
    }


async def test_breaks_name_the_instruments_whose_entries_are_blocked(openalgo_dashboard: Dashboard) -> None:
    breaks = [
        {"instrument": "GOLD_MINI", "symbol": "GOLDM05JAN27FUT", "kind": "quantity_mismatch", "expected": 300,
         "at_broker": 200},
        {"instrument": "COPPER", "symbol": "COPPER31DEC26FUT", "kind": "missing_here", "expected": 0,
         "at_broker": 2500},
    ]  # fmt: skip
    await reconciled(openalgo_dashboard, ago_s=4 * 60 + 59)  # an older check that matched: the newest decides
    await reconciled(openalgo_dashboard, ago_s=4 * 60 + 30, breaks=breaks)  # 270 s reads as 4 min
    assert await lights(openalgo_dashboard) == {
        # The position book was read: the session is good, what it said is not.
        "broker": ("green", "OpenAlgo: position book read 4 min ago"),
        "reconciliation": ("red", "2 breaks 4 min ago: new entries blocked on COPPER, GOLD_MINI"),
    }
    await reconciled(openalgo_dashboard, ago_s=10, breaks=breaks[:1])
    assert (await lights(openalgo_dashboard))["reconciliation"] == (
        "red",
        "1 break 10 s ago: new entries blocked on GOLD_MINI",
    )


async def test_a_position_book_that_could_not_be_read_is_a_failed_session(openalgo_dashboard: Dashboard) -> None:
    await reconciled(openalgo_dashboard, ago_s=30, error="HTTP 403: Invalid openalgo apikey")
    assert await lights(openalgo_dashboard) == {
        "broker": ("red", "OpenAlgo: the position book could not be read 30 s ago: HTTP 403: Invalid openalgo apikey"),
        "reconciliation": ("red", "not possible 30 s ago: new entries wait on every instrument"),
    }
    await reconciled(openalgo_dashboard, ago_s=5)  # the next check succeeds: both lights turn green again
    assert await lights(openalgo_dashboard) == {
        "broker": ("green", "OpenAlgo: position book read 5 s ago"),
        "reconciliation": ("green", "matched 5 s ago"),
    }


async def test_a_check_older_than_twice_the_interval_is_overdue(openalgo_dashboard: Dashboard) -> None:
    # Checks every 300 s (the default): one 601 s old (10 min) is past 2 × 300 = 600 s; one 600 s old is not.
    await reconciled(openalgo_dashboard, ago_s=601)
    assert await lights(openalgo_dashboard) == {
        "broker": ("yellow", "OpenAlgo: position book read 10 min ago (overdue)"),
        "reconciliation": ("yellow", "matched 10 min ago (overdue)"),
    }
    await reconciled(openalgo_dashboard, ago_s=600)
    assert (await lights(openalgo_dashboard))["reconciliation"] == ("green", "matched 10 min ago")


async def test_working_and_unknown_orders_are_listed_until_done(openalgo_dashboard: Dashboard) -> None:
    pool = openalgo_dashboard.services.pool
    entry = await pool.fetchval(
        "INSERT INTO signals (key, kind, instrument, layer, signal_time, payload, outcome, processed_at)"
        " VALUES ('g-pyramid', 'PYRAMID', 'GOLD_MINI', 2, $1, '{}', 'executed', $1) RETURNING id",
        NOW,
    )
    position = await pool.fetchval(
        "INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,"
        " highest_close, atr, point_value, margin_per_lot, contract, opened_at, entry_signal)"
        " VALUES ('GOLD_MINI', 2, 'partial', 3, 78500, 77800, 77800, 78500, 450, 10, 105000, 'GOLDM05JAN27FUT', $1,"
        " $2) RETURNING id",
        NOW,
        entry,
    )
    ids = {}
    for client, status, filled, checks, reason, broker_id in [
        ("g-pending", "pending", 0, 0, "", None),
        ("g-sent", "sent", 0, 0, "", "25113000000001"),
        ("g-partial", "partial", 1, 0, "", "25113000000002"),
        ("g-unknown", "unknown", 0, 3, "placeorder: HTTP 500", None),
        ("g-filled", "filled", 3, 0, "", "25113000000003"),
    ]:
        ids[client] = await pool.fetchval(
            "INSERT INTO orders (client_id, position, broker, instrument, symbol, side, lots, quantity, price, status,"
            " filled_lots, checks, reason, broker_order_id, created_at, epoch)"
            " VALUES ($1, $2, 'openalgo', 'GOLD_MINI', 'GOLD_MINI', 'BUY', 3, 3, 78502, $3, $4, $5, $6, $7, $8, 1)"
            " RETURNING id",
            client,
            position,
            status,
            filled,
            checks,
            reason,
            broker_id,
            NOW - timedelta(seconds=45),
        )
    async with openalgo_dashboard.session.get(openalgo_dashboard.url) as response:
        page = await response.text()
    rows = dict(re.findall(r'<tr data-order="(\d+)">(.*?)</tr>', page, re.S))
    # The four not yet done, oldest first; the filled one is not listed.
    assert list(rows) == [str(ids[c]) for c in ("g-pending", "g-sent", "g-partial", "g-unknown")]

    def cells(client: str) -> list[str]:
        found = re.findall(r"<(th|td)[^>]*>(.*?)</\1>", rows[str(ids[client])], re.S)
        return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", inner)).split()) for _, inner in found]

    assert cells("g-sent") == [
        # The layer's contract (the order row repeats the instrument), our client id and the broker's order id.
        "GOLD_MINI Long_2 GOLDM05JAN27FUT g-sent · broker 25113000000001",
        "BUY",
        "3",
        "78502.00",
        "sent",
        "45 s",
    ]
    assert cells("g-partial")[2] == "1 of 3 filled"
    assert cells("g-unknown")[4:] == ["unknown after 3 checks: placeorder: HTTP 500", "45 s"]


async def test_the_page_hears_of_a_placement_and_of_a_reconciliation(openalgo_dashboard: Dashboard) -> None:
    """Neither moves the book's version (only fills, rejects and cancels do), yet each changes what the page shows:
    the fingerprint the event stream compares must change with them."""
    pool = openalgo_dashboard.services.pool
    order = await pool.fetchval(
        "INSERT INTO orders (client_id, broker, instrument, symbol, side, lots, quantity, price, status, epoch)"
        " VALUES ('c-1', 'openalgo', 'GOLD_MINI', 'GOLDM05JAN27FUT', 'BUY', 2, 2, 78500, 'pending', 1) RETURNING id"
    )
    seen = {await fingerprint(pool)}
    for change in (
        "UPDATE orders SET status = 'sent' WHERE id = $1",
        "UPDATE orders SET broker_order_id = '25113000000009' WHERE id = $1",
        "UPDATE orders SET status = 'unknown', checks = 1 WHERE id = $1",
        "UPDATE orders SET checks = 2 WHERE id = $1",
    ):
        await pool.execute(change, order)
        seen.add(await fingerprint(pool))
    await reconciled(openalgo_dashboard, ago_s=1)
    seen.add(await fingerprint(pool))
    assert len(seen) == 6  # the first look, four order changes and a reconciliation: each a new fingerprint
