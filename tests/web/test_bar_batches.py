"""Bar closes pending in a row are handed out as one batch: the StopTrailer decides them one after the other, each
against the book the one before leaves, and the Persister commits the batch in one transaction (real PostgreSQL,
the real pipeline). A batch stops at the bar that places an order; its outcomes are exactly those of deciding the
bars one at a time (the replay); a batch that crashes its actor three times buries nothing, and its bars are
then decided one by one."""

from __future__ import annotations

from typing import Any

import orjson

from basso.pipeline import Runtime
from tests.pipeline_support import Outcomes, pipeline_for, solo_leader
from tests.replay import assert_state_equals_replay
from tests.web.conftest import NOW, Webhook
from tests.web.test_webhook import payload

# Bank Nifty's Long_1 enters at 52,000 with its stop at 51,650 (ATR 350). Five bars rise to 52,500: the trailing
# stop, 52,500 − 2.5 × 350 = 51,625, stays under 51,650, so nothing moves it and nothing exits. The sixth closes
# at 51,600, under the stop: the layer exits there. Three more bars mark an instrument with nothing open.
PRICES = (52_100, 52_200, 52_300, 52_400, 52_500, 51_600, 51_700, 51_800, 51_900)


def bar(n: int, price: float) -> dict[str, Any]:
    return {
        "type": "MARKET_DATA",
        "instrument": "BANK_NIFTY",
        "timestamp": f"2026-11-25T10:30:{1 + n:02d}",  # a second apart, after the entry, not in the future
        "price": price,
        "atr": 350.0,
        "secret": payload("BASE_ENTRY_BANK_NIFTY")["secret"],
    }


async def store_all(webhook: Webhook) -> None:
    """The entry and the nine bars, stored before the pipeline opens, so they are pending together."""
    for body in (payload("BASE_ENTRY_BANK_NIFTY"), *(bar(n, price) for n, price in enumerate(PRICES))):
        status, reply = await webhook.post(orjson.dumps(body))
        assert status == 200, reply


async def test_bars_pending_in_a_row_are_decided_in_batches_that_stop_at_an_exit(webhook: Webhook) -> None:
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    await store_all(webhook)
    outcomes = Outcomes()
    pipeline = pipeline_for(pool, webhook.services.config, epoch, outcomes)
    await pipeline.start()
    pipeline.open()
    await outcomes.wait_until_none_pending(pool)
    stats = pipeline.statistics()
    await pipeline.stop()
    # Two batches: bars 1–6 (the sixth exits: its fill comes before any later decision), then bars 7–9.
    assert stats["basso/trading/stop_trailer"]["handled"] == 2
    rows = await pool.fetch("SELECT kind, outcome FROM signals ORDER BY id")
    assert [(r["kind"], r["outcome"]) for r in rows] == [("BASE_ENTRY", "executed")] + [("MARKET_DATA", "executed")] * 9
    exits = await pool.fetch("SELECT side, price, status FROM orders WHERE side = 'SELL'")
    assert [(o["side"], o["price"], o["status"]) for o in exits] == [("SELL", 51_600, "filled")]
    layer = await pool.fetchrow("SELECT status, current_stop, exit_price FROM positions")
    assert layer is not None
    assert (layer["status"], layer["current_stop"], layer["exit_price"]) == ("closed", 51_650, 51_600)
    assert len(outcomes.committed) == 10  # each bar reported committed, batch or not
    await assert_state_equals_replay(pool, webhook.services.config)


class Poison(Exception):
    """The StopTrailer fails."""


async def test_a_batch_that_crashes_three_times_buries_nothing_and_goes_one_bar_at_a_time(webhook: Webhook) -> None:
    pool = webhook.services.pool
    epoch = await solo_leader(pool, NOW)
    await store_all(webhook)
    crashes: list[str] = []

    def fault(path: str) -> None:
        # The StopTrailer fails on the first three deliveries it gets: all three are the first batch of bars.
        if path.endswith("stop_trailer") and len(crashes) < 3:
            crashes.append(path)
            raise Poison("a passing fault")

    outcomes = Outcomes()
    pipeline = pipeline_for(pool, webhook.services.config, epoch, outcomes, runtime=Runtime(fault=fault))
    await pipeline.start()
    pipeline.open()
    await outcomes.wait_until_none_pending(pool)
    stats = pipeline.statistics()
    await pipeline.stop()
    assert len(crashes) == 3
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await pool.fetchval("SELECT count(*) FROM signals WHERE outcome <> 'executed'") == 0
    # The three crashed deliveries, then the nine bars one at a time (the first batch's rows), nothing batched
    # after an exit: 3 + 9.
    assert stats["basso/trading/stop_trailer"]["handled"] == 9
    await assert_state_equals_replay(pool, webhook.services.config)
