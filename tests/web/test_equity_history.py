"""Equity over time (docs/rules.md §10): every change of the book leaves an equity mark at its commit (sql/012),
`GET /api/equity` reads them over a window, thinned to at most 500 points without hiding a dip, and refuses a
query it cannot use (real PostgreSQL, the real pipeline and app)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson
import pytest

from basso.store.migrations import migrate, shipped_migrations
from basso.store.types import Connection
from tests.web.conftest import NOW, Trading, Webhook
from tests.web.test_controls import ADMIN
from tests.web.test_notifications import ENTRY, QUIET_BAR, STOP_BAR, signal

START = datetime(2026, 11, 2, 3, 45, tzinfo=UTC)  # 09:15 IST


async def equity(webhook: Webhook, query: str = "") -> dict[str, Any]:
    status, reply = await webhook.get(f"/api/equity{query}")
    assert status == 200, reply
    assert isinstance(reply, dict)
    return reply


def column(reply: dict[str, Any], name: str) -> list[Any]:
    return [point[name] for point in reply["points"]]


async def test_each_change_of_the_book_is_one_point_with_the_numbers_worked_by_hand(trading: Trading) -> None:
    webhook = trading.webhook
    await signal(trading, ENTRY)
    await signal(trading, QUIET_BAR)
    await signal(trading, STOP_BAR)
    # By hand (Bank Nifty, point value 30, commission 0.05 % a side, blended weight 0.5). A decision commits first
    # and its order fills after (docs/rules.md §8); a layer counts in unrealised while opening or open, as the book
    # counts it, not once its exit is on its way:
    # 1. the deposit: closed ₹50,00,000, nothing open;
    #    (the entry's decision, a layer opening at 52,000 marked at 52,000, moves neither: no point)
    # 2. the entry filled, 1 lot at 52,000: commission 52,000 × 30 × 0.0005 = ₹780 ⇒ closed 49,99,220;
    #    780 ÷ 50,00,000 = 0.0156 % below the high water;
    # 3. the bar at 52,100 (the stop stays 51,650): unrealised (52,100 − 52,000) × 1 × 30 = ₹3,000, blended
    #    49,99,220 + 0.5 × 3,000 = 50,00,720;
    # 4. the bar at 51,600, under the stop: the layer's exit is decided, it no longer counts: unrealised 0;
    # 5. the exit filled at 51,600: P&L (51,600 − 52,000) × 30 = −₹12,000, commission 51,600 × 30 × 0.0005 = ₹774
    #    ⇒ closed 49,99,220 − 12,000 − 774 = 49,86,446, 13,554 ÷ 50,00,000 = 0.27108 % below the high water.
    reply = await equity(webhook)
    assert column(reply, "closed") == ["5000000.00", "4999220.00", "4999220.00", "4999220.00", "4986446.00"]
    assert column(reply, "unrealised") == ["0.00", "0.00", "3000.00", "0.00", "0.00"]
    assert column(reply, "blended") == ["5000000.00", "4999220.00", "5000720.00", "4999220.00", "4986446.00"]
    assert column(reply, "high_water") == ["5000000.00"] * 5
    assert column(reply, "drawdown_pct") == [0, 0.0156, 0.0156, 0.0156, 0.2711]
    assert column(reply, "marks") == [1] * 5
    times = [datetime.fromisoformat(at) for at in column(reply, "at")]
    assert times == sorted(times)
    status = await webhook.get("/api/status")
    assert isinstance(status[1], dict)
    assert reply["points"][-1]["blended"] == status[1]["equity"]["blended"]

    # The kill switch moves the facts' version but not equity (and a blocked entry neither): no point. A deposit
    # of ₹1,00,000 is one: closed 49,86,446 + 1,00,000 = 50,86,446, a new high water, no drawdown.
    assert (await webhook.post_json("/api/kill-switch", {"on": True, "reason": "test"}, ADMIN))[0] == 200
    await signal(trading, {**ENTRY, "signal_id": "blocked-entry", "timestamp": "2026-11-25T10:29:45"})
    assert len((await equity(webhook))["points"]) == 5
    deposit = {"kind": "deposit", "amount": "100000", "note": "top-up"}
    assert (await webhook.post_json("/api/capital", deposit, ADMIN))[0] == 200
    last = (await equity(webhook))["points"][-1]
    assert (last["closed"], last["high_water"], last["drawdown_pct"]) == ("5086446.00", "5086446.00", 0)


async def test_a_change_that_does_not_commit_leaves_no_mark(trading: Trading) -> None:
    pool = trading.webhook.services.pool
    before = await pool.fetchval("SELECT count(*) FROM equity_marks")
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="changed my mind"):
            await _deposit_then_change_my_mind(conn)
    assert await pool.fetchval("SELECT count(*) FROM equity_marks") == before


async def _deposit_then_change_my_mind(conn: Connection) -> None:
    async with conn.transaction():
        await conn.execute("INSERT INTO ledger (at, kind, amount, note) VALUES ($1, 'deposit', 1000, 'never')", NOW)
        await conn.execute("UPDATE controls SET book_version = book_version + 1")
        raise RuntimeError("changed my mind")


async def _marks(pool: asyncpg.Pool, closed: list[int]) -> None:
    """One equity mark a minute from START, closed equity as given, the high water its running maximum."""
    records, high = [], 0
    for minute, value in enumerate(closed):
        high = max(high, value)
        at = START + timedelta(minutes=minute)
        records.append((at, Decimal(value), Decimal(0), Decimal(high), (high - value) / high))
    await pool.execute("DELETE FROM equity_marks")
    await pool.copy_records_to_table(
        "equity_marks", records=records, columns=["at", "closed", "unrealised", "high_water", "drawdown"]
    )


async def test_a_long_history_is_thinned_to_one_point_per_stretch_keeping_each_stretchs_worst_drawdown(
    webhook: Webhook,
) -> None:
    # 1,000 marks a minute apart (999 minutes from the first to the last), ₹100 each but ₹90 at minute 437.
    closed = [100] * 1000
    closed[437] = 90
    await _marks(webhook.services.pool, closed)
    reply = await equity(webhook, "?points=10")
    # Ten stretches of 99.9 minutes: minute m is in stretch ⌊10 m ÷ 999⌋ (the last minute in the last stretch),
    # so stretch k holds minutes 100 k … 100 k + 99 and ends at minute 100 k + 99. The dip, minute 437, is in
    # stretch 4: (100 − 90) ÷ 100 = 10 % there, although its last mark is back at ₹100.
    assert column(reply, "at") == [(START + timedelta(minutes=100 * k + 99)).isoformat() for k in range(10)]
    assert column(reply, "marks") == [100] * 10
    assert column(reply, "drawdown_pct") == [0, 0, 0, 0, 10.0, 0, 0, 0, 0, 0]
    assert column(reply, "closed") == ["100.00"] * 10
    # Unthinned by default while the window holds at most 500 marks: since minute 500, 500 marks, 500 points.
    since = START + timedelta(minutes=500)
    recent = await equity(webhook, f"?since={quote(since.isoformat())}")
    assert len(recent["points"]) == 500
    assert recent["points"][0]["at"] == since.isoformat()
    assert column(recent, "marks") == [1] * 500
    # The whole history by default: 1,000 marks as 500 points.
    assert len((await equity(webhook))["points"]) == 500


async def test_since_as_a_browser_writes_it_and_in_ist(webhook: Webhook) -> None:
    await _marks(webhook.services.pool, [100, 101, 102])
    # START + 1 minute is 09:16 IST; a "+" left unescaped in a query string arrives as a space.
    for since in ("2026-11-02T09:16:00+05:30", "2026-11-02T03:46:00Z", quote("2026-11-02T09:16:00+05:30")):
        reply = await equity(webhook, f"?since={since}")
        assert column(reply, "closed") == ["101.00", "102.00"], since


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?since=yesterday", "since"),
        ("?since=2026-11-02T09:16:00", "since"),  # no offset: which 09:16?
        ("?points=1", "points"),
        ("?points=501", "points"),
        ("?points=ten", "points"),
        ("?points=-5", "points"),
    ],
)
async def test_a_query_it_cannot_use_is_refused_naming_the_parameter(webhook: Webhook, query: str, field: str) -> None:
    status, reply = await webhook.get(f"/api/equity{query}")
    assert status == 400
    assert isinstance(reply, dict)
    assert (reply["status"], reply["field"]) == ("error", field)
    assert field in reply["error"]


async def test_the_history_before_the_marks_is_rebuilt_from_the_ledger(fresh_database: str, tmp_path: Path) -> None:
    # A database at sql/011 (before the marks) with a ledger: ₹10 L deposited, then a signal's two rows (−₹500
    # commission, +₹20,000 P&L) landing together, then −₹30,000 of another signal, then a ₹5,000 withdrawal.
    earlier = tmp_path / "sql"
    earlier.mkdir()
    for migration in sorted(shipped_migrations().iterdir(), key=lambda entry: entry.name):
        if migration.name.endswith(".sql") and int(migration.name[:3]) <= 11:
            (earlier / migration.name).write_text(migration.read_text("utf-8"))
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn, earlier)
        await _ledger_before_the_marks(conn)
        assert (await migrate(conn))[0] == 12  # the marks, then whatever came after them
        rows = await conn.fetch("SELECT at, version, closed, unrealised, high_water FROM equity_marks ORDER BY id")
    finally:
        await conn.close()
    # By hand: 10,00,000; + 20,000 − 500 = 10,19,500 (high water); − 30,000 = 9,89,500; − 5,000 = 9,84,500.
    assert [r["closed"] for r in rows] == [Decimal("1000000"), Decimal("1019500"), Decimal("989500"), Decimal("984500")]
    assert [r["high_water"] for r in rows] == [Decimal("1000000")] + [Decimal("1019500")] * 3
    assert [r["unrealised"] for r in rows] == [None] * 4  # not known before the marks
    assert [r["version"] for r in rows] == [None] * 4
    # Each step at the time of its newest row (the first signal's rows an hour and 1 h 05 min in: the later).
    hours = [timedelta(0), timedelta(hours=1, minutes=5), timedelta(hours=2), timedelta(hours=3)]
    assert [r["at"] for r in rows] == [START + h for h in hours]


async def _ledger_before_the_marks(conn: asyncpg.Connection) -> None:
    payload = orjson.dumps({}).decode()
    signals = []
    for n in (1, 2):
        signals.append(
            await conn.fetchval(
                "INSERT INTO signals (key, kind, instrument, signal_time, payload) VALUES ($1, 'EXIT', 'GOLD_MINI',"
                " $2, $3::jsonb) RETURNING id",
                f"s{n}",
                START,
                payload,
            )
        )
    rows = [
        (START, "deposit", Decimal(1_000_000), None),
        (START + timedelta(hours=1), "commission", Decimal(-500), signals[0]),
        (START + timedelta(hours=1, minutes=5), "realised_pnl", Decimal(20_000), signals[0]),
        (START + timedelta(hours=2), "realised_pnl", Decimal(-30_000), signals[1]),
        (START + timedelta(hours=3), "withdrawal", Decimal(-5_000), None),
    ]
    for at, kind, amount, signal_row in rows:
        await conn.execute(
            "INSERT INTO ledger (at, kind, amount, signal, note) VALUES ($1, $2, $3, $4, '')",
            at,
            kind,
            amount,
            signal_row,
        )
