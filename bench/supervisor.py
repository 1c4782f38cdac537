"""Benchmark of the actor runtime: restart latency (crash to ready) and pipeline throughput.

    python bench/supervisor.py [--restarts 1000] [--messages 200000]

Prints the figures for people, then one JSON line:
{"restart_p50_ms": …, "restart_p99_ms": …, "pipeline_msgs_per_s": …}.

* Restart latency: an actor raises inside `handle`; the time runs from the raise to the moment its
  supervisor reports the new incarnation ready (`ChildStarted`), with a zero backoff so that the figure is
  the runtime's own cost (the backoff is policy, added on top in production).
* Throughput: messages made by a producer go through five actors (four forward, the fifth counts) over
  bounded mailboxes with the exactly-once commit, end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass

from basso.actors import Actor, ActorRef, ChildStarted, SupervisorEvent
from basso.messages import Message
from basso.supervisor import Backoff, ChildSpec, RestartIntensity, Supervisor


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Message):
    """A benchmark message."""

    seq: int


class Crasher(Actor[Tick]):
    """Raises on every message, noting when."""

    def __init__(self, crashed_at: list[float]) -> None:
        self.crashed_at = crashed_at

    async def handle(self, message: Tick) -> None:
        self.crashed_at.append(time.perf_counter())
        raise RuntimeError("benchmark crash")


class Forward(Actor[Tick]):
    """Passes every message on."""

    def __init__(self, to: ActorRef[Tick]) -> None:
        self.to = to

    async def handle(self, message: Tick) -> None:
        await self.send(self.to, message)


class Count(Actor[Tick]):
    """Counts messages and resolves `done` at the last one."""

    def __init__(self, expected: int, done: asyncio.Future[float]) -> None:
        self.expected = expected
        self.done = done
        self.seen = 0

    async def handle(self, message: Tick) -> None:
        self.seen += 1
        if self.seen == self.expected and not self.done.done():
            self.done.set_result(time.perf_counter())


async def restart_latencies_ms(restarts: int) -> list[float]:
    """Crash an actor `restarts` times; milliseconds from each raise to the restarted actor being ready."""
    crashed_at: list[float] = []
    ready_at: list[float] = []
    waiter: list[asyncio.Future[None]] = []

    def observe(event: SupervisorEvent) -> None:
        if isinstance(event, ChildStarted) and event.generation > 1:
            ready_at.append(time.perf_counter())
            if waiter and not waiter[0].done():
                waiter[0].set_result(None)

    root = Supervisor(
        name="bench",
        observer=observe,
        backoff=Backoff(base_s=0.0),
        intensity=RestartIntensity(max_restarts=restarts + 1, within_s=3600.0),
        children=[ChildSpec(name="crasher", factory=lambda: Crasher(crashed_at))],
    )
    async with root:
        ref = root.ref("crasher")
        for seq in range(restarts):
            waiter[:] = [asyncio.get_running_loop().create_future()]
            # Each message crashes once, twice, then is dead-lettered; the restart cost is the same.
            await ref.tell(Tick(seq=seq))
            await waiter[0]
    return [(ready - crash) * 1000.0 for crash, ready in zip(crashed_at, ready_at, strict=False)]


async def pipeline_msgs_per_s(messages: int) -> float:
    """Messages per second through five actors, producer to the last actor."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    refs = [ActorRef[Tick](f"stage{n}") for n in range(5)]
    children = [
        ChildSpec(name=f"stage{n}", ref=refs[n], factory=lambda n=n: Forward(refs[n + 1]))  # type: ignore[misc]
        for n in range(4)
    ]
    children.append(ChildSpec(name="stage4", ref=refs[4], factory=lambda: Count(messages, done)))
    async with Supervisor(name="bench", children=children):
        began = time.perf_counter()
        for seq in range(messages):
            await refs[0].tell(Tick(seq=seq))
        ended = await done
    return messages / (ended - began)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def main(restarts: int, messages: int) -> None:
    """Run both measurements and print them."""
    latencies = await restart_latencies_ms(restarts)
    throughput = await pipeline_msgs_per_s(messages)
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(
        f"restart, crash to ready ({len(latencies)} restarts, backoff excluded): "
        f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(latencies):.3f} ms"
    )
    print(f"pipeline through 5 actors ({messages:,} messages): {throughput:,.0f} messages/s")
    print(
        json.dumps(
            {"restart_p50_ms": round(p50, 3), "restart_p99_ms": round(p99, 3), "pipeline_msgs_per_s": round(throughput)}
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--restarts", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200_000)
    arguments = parser.parse_args()
    # Every crash is logged with its traceback, as in production; the cost is measured, the text discarded.
    with open(os.devnull, "w") as devnull:
        logging.basicConfig(stream=devnull, level=logging.ERROR)
        asyncio.run(main(arguments.restarts, arguments.messages))
