"""The event-loop lag monitor reports how late its timer woke, and how busy the loop's thread was meanwhile, on
injected clocks."""

from __future__ import annotations

import asyncio

import pytest

from basso.looplag import watch_loop_lag


async def test_the_lag_is_how_late_the_timer_woke_and_the_share_is_the_threads_cpu_time_over_the_wall_time() -> None:
    now, cpu = [100.0], [7.0]
    # The loop wakes on time, using 0.1 s of CPU in the 0.5 s; then 250 ms late after holding the CPU all 0.75 s (our
    # own code); then 250 ms late having run for only 0.075 s of the 0.75 s (the machine starved the process).
    steps = iter([(0.0, 0.1), (0.25, 0.75), (0.25, 0.075)])
    recorded: list[tuple[float, float]] = []

    async def sleep(seconds: float) -> None:
        late, used = next(steps)
        now[0] += seconds + late
        cpu[0] += used

    def record(lag: float, busy: float) -> None:
        recorded.append((lag, busy))
        if len(recorded) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await watch_loop_lag(record, interval_s=0.5, clock=lambda: now[0], cpu_clock=lambda: cpu[0], sleep=sleep)
    assert [lag for lag, _ in recorded] == pytest.approx([0.0, 0.25, 0.25])
    assert [busy for _, busy in recorded] == pytest.approx([0.2, 1.0, 0.1])  # 0.1/0.5, 0.75/0.75, 0.075/0.75
