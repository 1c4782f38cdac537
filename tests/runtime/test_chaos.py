"""Chaos: a five-actor pipeline carries 10,000 messages while a seeded killer crashes and cancels its actors.

Afterwards every message has reached the end exactly once and in order, every actor handled (acknowledged)
each message exactly once, nothing was dead-lettered, and the tree is healthy. The seed is printed, and put
in every assertion message, so a failing run can be replayed with BASSO_CHAOS_SEED=<seed>.
"""

from __future__ import annotations

import asyncio
import os
import random

from basso.actors import Actor, ActorRef, DeadLetterBox, FakeClock
from basso.supervisor import Backoff, ChildSpec, RestartIntensity, Supervisor
from tests.runtime.helpers import Numbered

MESSAGES = 10_000
STAGES = ("a", "b", "c", "d", "e")
PATHS = {"a": "front/a", "b": "front/b", "c": "back/c", "d": "back/d", "e": "back/e"}


class Chaos:
    """The seeded killer: raises inside handlers and cancels actor tasks."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.raises = 0
        self.kills = 0
        self._raised: set[tuple[str, str, str]] = set()

    def maybe_raise(self, stage: str, message: Numbered, where: str) -> None:
        """Raise at most once per (stage, message, point): two crashes at most, so never a poison message."""
        key = (stage, message.id, where)
        if key not in self._raised and self.rng.random() < 0.004:
            self._raised.add(key)
            self.raises += 1
            raise RuntimeError(f"chaos in {stage} {where} sending {message.seq}")

    def maybe_kill(self, root: Supervisor) -> None:
        """Sometimes cancel the task of a random actor, wherever it is (waiting, sending, starting)."""
        if self.rng.random() >= 0.04:
            return
        task = root.cell(PATHS[self.rng.choice(STAGES)]).task
        if task is not None and not task.done():
            task.cancel()
            self.kills += 1


class Stage(Actor[Numbered]):
    """Forwards every message; the chaos may raise before or after the (staged) send."""

    def __init__(self, label: str, to: ActorRef[Numbered], chaos: Chaos) -> None:
        self.label = label
        self.to = to
        self.chaos = chaos

    async def handle(self, message: Numbered) -> None:
        self.chaos.maybe_raise(self.label, message, "before")
        await self.send(self.to, message)
        self.chaos.maybe_raise(self.label, message, "after")


def pipeline(chaos: Chaos, end: ActorRef[Numbered], letters: DeadLetterBox) -> Supervisor:
    refs = {label: ActorRef[Numbered](label, capacity=16) for label in STAGES}
    downstream = {"a": refs["b"], "b": refs["c"], "c": refs["d"], "d": refs["e"], "e": end}

    def spec(label: str) -> ChildSpec[Numbered]:
        return ChildSpec(name=label, ref=refs[label], factory=lambda: Stage(label, downstream[label], chaos))

    # Far more restarts than production would ever allow: the point here is what survives them.
    intensity = RestartIntensity(max_restarts=10_000, within_s=1.0)
    front = Supervisor(name="front", strategy="rest_for_one", intensity=intensity, children=[spec("a"), spec("b")])
    back = Supervisor(
        name="back", strategy="one_for_one", intensity=intensity, children=[spec("c"), spec("d"), spec("e")]
    )
    return Supervisor(
        name="root",
        strategy="one_for_one",
        intensity=intensity,
        children=[front.as_child(), back.as_child()],
        clock=FakeClock(),
        rng=random.Random(0),
        dead_letters=letters,
        backoff=Backoff(base_s=0.001, max_s=0.01),
    )


async def test_ten_thousand_messages_arrive_exactly_once_in_order_through_hundreds_of_crashes() -> None:
    seed = int(os.environ.get("BASSO_CHAOS_SEED", random.randrange(2**32)))
    print(f"chaos seed {seed} (replay with BASSO_CHAOS_SEED={seed})")
    chaos, end, letters = Chaos(seed), ActorRef[Numbered]("end", capacity=16), DeadLetterBox()
    root = pipeline(chaos, end, letters)

    async def produce() -> None:
        for seq in range(MESSAGES):
            await root.ref("front/a").tell(Numbered(seq=seq))

    async with root:
        producer = asyncio.create_task(produce())
        arrived: list[int] = []
        for _ in range(MESSAGES):
            arrived.append((await end.mailbox.get()).seq)
            chaos.maybe_kill(root)
        await producer
        # The killer has stopped. One last message through every stage proves each is running again.
        await root.ref("front/a").tell(Numbered(seq=MESSAGES))
        arrived.append((await end.mailbox.get()).seq)
        replay = f"(seed {seed}: {chaos.raises} raises, {chaos.kills} kills)"
        assert arrived == list(range(MESSAGES + 1)), f"lost, duplicated or reordered {replay}"
        assert chaos.raises + chaos.kills >= 500, f"not enough chaos {replay}"
        assert letters.letters == [], f"dead letters {replay}"
        stats = {label: root.cell(PATHS[label]).statistics() for label in STAGES}
        assert {label: s.handled for label, s in stats.items()} == dict.fromkeys(STAGES, MESSAGES + 1), replay
        assert sum(s.restarts for s in stats.values()) >= chaos.raises, replay
        assert sum(s.failed for s in stats.values()) == chaos.raises, replay
        assert root.healthy(), f"tree not healthy {replay}"
        assert len(end.mailbox) == 0
