"""The event-loop lag monitor reports how late its timer woke, on an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from basso.looplag import watch_loop_lag


async def test_the_lag_is_how_late_the_timer_woke() -> None:
    now = [100.0]
    lateness = iter([0.0, 0.25, 0.003])  # the loop wakes on time, then 250 ms late, then 3 ms late
    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds + next(lateness)

    def record(lag: float) -> None:
        recorded.append(lag)
        if len(recorded) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await watch_loop_lag(record, interval_s=0.5, clock=lambda: now[0], sleep=sleep)
    assert recorded == pytest.approx([0.0, 0.25, 0.003])
