"""The SignalReceiver hands bar closes to the StopTrailer and everything else to the Sizer; the StopTrailer's
bar-gap watch raises one alert per gap, in market hours only (real PostgreSQL, the real pipeline)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson

from basso.messages import CheckBarGaps
from tests.pipeline_support import PROCESSED_AT
from tests.web.conftest import Trading
from tests.web.test_webhook import payload


async def test_bar_closes_go_to_the_stop_trailer_and_entries_to_the_sizer(trading: Trading) -> None:
    webhook, pipeline, outcomes = trading.webhook, trading.pipeline, trading.outcomes
    bodies = [
        payload("BASE_ENTRY_BANK_NIFTY"),
        {
            "type": "MARKET_DATA",
            "instrument": "BANK_NIFTY",
            "timestamp": "2026-11-25T10:30:00",
            "price": 52_400.0,
            "atr": 350.0,
            "secret": payload("BASE_ENTRY_BANK_NIFTY")["secret"],
        },
    ]
    for body in bodies:
        status, reply = await webhook.post(orjson.dumps(body))
        assert status == 200, reply
    await outcomes.wait_for(2)
    stats = pipeline.statistics()
    assert stats["basso/trading/receiver"]["handled"] >= 2  # at least a Poll per signal and its Committed
    assert stats["basso/trading/sizer"]["handled"] == 1  # the entry
    assert stats["basso/trading/stop_trailer"]["handled"] == 1  # the bar close
    rows = await webhook.services.pool.fetch("SELECT kind, outcome FROM signals ORDER BY id")
    assert [(r["kind"], r["outcome"]) for r in rows] == [("BASE_ENTRY", "executed"), ("MARKET_DATA", "executed")]


async def check(trading: Trading, minutes_after_entry: float) -> None:
    """Run one bar-gap check at the entry's commit time plus `minutes_after_entry`, and wait for it."""
    pipeline = trading.pipeline
    handled = pipeline.statistics()["basso/trading/stop_trailer"]["handled"]
    await pipeline.stop_trailer.tell(CheckBarGaps(now=PROCESSED_AT + timedelta(minutes=minutes_after_entry)))
    async with asyncio.timeout(10):
        while pipeline.statistics()["basso/trading/stop_trailer"]["handled"] == handled:
            await pipeline.stop_trailer.mailbox.wait_room()


async def test_a_bar_gap_in_market_hours_raises_one_alert(trading: Trading) -> None:
    webhook, outcomes = trading.webhook, trading.outcomes
    status, _ = await webhook.post(orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY")))
    assert status == 200
    await outcomes.wait_for(1)  # Long_1 opened at 05:01 UTC = 10:31 IST, Bank Nifty trades 09:15–15:30 IST
    pool = webhook.services.pool
    await check(trading, 14)  # 14 min without a bar: under bar_gap_alert_s = 900 s (15 min)
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE kind = 'bar_gap'") == 0
    await check(trading, 16)  # 16 min: over it
    await check(trading, 17)  # the same gap, still open: no second alert
    rows = await pool.fetch("SELECT level, instrument, message, detail FROM alerts WHERE kind = 'bar_gap'")
    assert len(rows) == 1
    assert (rows[0]["level"], rows[0]["instrument"]) == ("warning", "BANK_NIFTY")
    assert orjson.loads(rows[0]["detail"]) == {"last_bar_at": "none", "gap_s": 960}  # 16 × 60
    # 05:01 UTC + 6 h = 16:31 IST: the market has closed, so no gap is counted.
    await pool.execute("UPDATE alerts SET acknowledged_at = now(), acknowledged_by = 'test'")
    await check(trading, 6 * 60)
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE kind = 'bar_gap'") == 1
