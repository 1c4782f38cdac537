"""One actor under a supervisor: ready handshake, order, no loss on crash, poison messages, statistics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from basso.actors import (
    Actor,
    ActorRef,
    ChildExited,
    ChildStarted,
    DeadLetter,
    DeadLetterBox,
    EventLog,
    ExitReason,
    FakeClock,
    SupervisorEvent,
)
from basso.http.metrics import Metrics
from basso.supervisor import Backoff, ChildSpec, Supervisor
from tests.runtime.helpers import Blocker, Forwarder, Journal, Numbered, drain


def started(path: str) -> Callable[[SupervisorEvent], bool]:
    return lambda event: isinstance(event, ChildStarted) and event.path == path


def exited(path: str, reason: ExitReason | None = None) -> Callable[[SupervisorEvent], bool]:
    return lambda event: (
        isinstance(event, ChildExited) and event.path == path and (reason is None or event.reason is reason)
    )


def one_actor(
    make: Callable[[], Actor[Numbered]], *, log: EventLog, dead_letters: DeadLetterBox | None = None, capacity: int = 16
) -> Supervisor:
    return Supervisor(
        name="root",
        children=[ChildSpec(name="a", factory=make, capacity=capacity)],
        clock=FakeClock(),
        observer=log,
        dead_letters=dead_letters or DeadLetterBox(),
        backoff=Backoff(base_s=0.01, jitter=0.0),
    )


async def test_start_returns_only_once_on_start_has_finished() -> None:
    entered, proceed = asyncio.Event(), asyncio.Event()

    class SlowStarter(Actor[Numbered]):
        async def on_start(self) -> None:
            entered.set()
            await proceed.wait()

        async def handle(self, message: Numbered) -> None:
            pass

    sup = one_actor(SlowStarter, log=EventLog())
    starting = asyncio.create_task(sup.start())
    await entered.wait()
    assert not starting.done()
    proceed.set()
    await starting
    assert sup.cell("a").state == "idle"
    await sup.stop()


async def test_messages_are_handled_in_order_and_forwarded_once() -> None:
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=100)
    async with one_actor(lambda: Forwarder("a", journal, out), log=EventLog()) as sup:
        for seq in range(50):
            await sup.ref("a").tell(Numbered(seq=seq))
        assert await drain(out, 50) == list(range(50))
        assert len(out.mailbox) == 0
        assert sup.cell("a").statistics().handled == 50


async def test_a_crash_redelivers_the_message_it_was_handling_first_after_the_restart() -> None:
    journal, out, log = Journal(), ActorRef[Numbered]("out", capacity=100), EventLog()
    async with one_actor(lambda: Forwarder("a", journal, out), log=log) as sup:
        for message in (Numbered(seq=1), Numbered(seq=2, crash_before=1), Numbered(seq=3)):
            await sup.ref("a").tell(message)
        assert await drain(out, 3) == [1, 2, 3]
        assert journal.lines == [
            "start a",
            "a 1 attempt 1",
            "a 2 attempt 1",
            "stop a",
            "start a",
            "a 2 attempt 2",
            "a 3 attempt 1",
        ]
        stats = sup.cell("a").statistics()
        assert (stats.failed, stats.restarts, stats.handled) == (1, 1, 3)
        assert stats.last_error == "RuntimeError: a told to crash on 2"
        assert log.count(exited("root/a", ExitReason.CRASHED)) == 1


async def test_a_crash_after_sending_does_not_forward_the_message_twice() -> None:
    # The send is staged; the crash comes before the commit, so the first attempt forwarded nothing.
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=100)
    async with one_actor(lambda: Forwarder("a", journal, out), log=EventLog()) as sup:
        await sup.ref("a").tell(Numbered(seq=1, crash_after=2))
        await sup.ref("a").tell(Numbered(seq=2))
        assert await drain(out, 2) == [1, 2]
        assert "a 1 attempt 3" in journal.lines


async def test_a_message_that_crashes_its_actor_three_times_is_dead_lettered_and_the_actor_moves_on() -> None:
    journal, out, letters = Journal(), ActorRef[Numbered]("out", capacity=100), DeadLetterBox()
    async with one_actor(lambda: Forwarder("a", journal, out), log=EventLog(), dead_letters=letters) as sup:
        poison = Numbered(seq=2, crash_before=99)
        for message in (Numbered(seq=1), poison, Numbered(seq=3)):
            await sup.ref("a").tell(message)
        assert await drain(out, 2) == [1, 3]
        assert [line for line in journal.lines if line.startswith("a 2")] == [
            "a 2 attempt 1",
            "a 2 attempt 2",
            "a 2 attempt 3",
        ]
        [letter] = letters.letters
        assert letter.actor == "root/a"
        assert letter.message is poison
        assert (letter.crashes, letter.error_type, letter.error) == (3, "RuntimeError", "a told to crash on 2")
        stats = sup.cell("a").statistics()
        assert (stats.failed, stats.restarts, stats.dead_lettered, stats.handled) == (3, 3, 1, 2)


async def test_when_the_dead_letter_sink_fails_the_poison_message_stays_until_the_sink_takes_it() -> None:
    class FlakySink:
        def __init__(self) -> None:
            self.calls = 0
            self.letters: list[DeadLetter] = []

        async def __call__(self, letter: DeadLetter) -> None:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("database away")
            self.letters.append(letter)

    journal, out, sink = Journal(), ActorRef[Numbered]("out", capacity=100), FlakySink()
    sup = Supervisor(
        name="root",
        children=[ChildSpec(name="a", factory=lambda: Forwarder("a", journal, out))],
        clock=FakeClock(),
        dead_letters=sink,
        backoff=Backoff(base_s=0.0),
    )
    async with sup:
        await sup.ref("a").tell(Numbered(seq=1, crash_before=99))
        await sup.ref("a").tell(Numbered(seq=2))
        assert await drain(out, 1) == [2]
        # 3rd crash: the sink fails, the message is kept; 4th crash: the sink takes it.
        assert sink.calls == 2
        assert [letter.crashes for letter in sink.letters] == [4]


async def test_a_killed_actor_keeps_its_message_and_the_kill_does_not_count_against_the_message() -> None:
    journal, out, log = Journal(), ActorRef[Numbered]("out", capacity=10), EventLog()
    release, entered = asyncio.Event(), asyncio.Event()
    async with one_actor(lambda: Blocker(journal, release, entered, out), log=log) as sup:
        await sup.ref("a").tell(Numbered(seq=1))
        await entered.wait()
        first = sup.cell("a").task
        assert first is not None
        entered.clear()
        sup.cell("a").kill()
        await log.wait_for(started("root/a"), count=2)
        assert first.cancelled()  # the CancelledError ended the task: it was not swallowed
        await entered.wait()
        release.set()
        assert await drain(out, 1) == [1]
        assert journal.lines == ["enter 1", "cancelled 1", "enter 1", "done 1"]
        stats = sup.cell("a").statistics()
        assert (stats.failed, stats.restarts) == (0, 1)
        assert log.count(exited("root/a", ExitReason.KILLED)) == 1


async def test_stopping_lets_the_message_in_progress_finish_and_leaves_the_rest_queued() -> None:
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=10)
    release, entered = asyncio.Event(), asyncio.Event()
    sup = one_actor(lambda: Blocker(journal, release, entered, out), log=EventLog())
    await sup.start()
    await sup.ref("a").tell(Numbered(seq=1))
    await sup.ref("a").tell(Numbered(seq=2))
    await entered.wait()
    sup.cell("a").request_stop()
    release.set()
    await sup.stop()
    assert journal.lines == ["enter 1", "done 1"]
    assert await drain(out, 1) == [1]
    assert sup.ref("a").mailbox.head().seq == 2  # accepted, not lost: the next start handles it


async def test_send_outside_handle_is_delivered_at_once() -> None:
    out = ActorRef[Numbered]("out", capacity=10)

    class Greeter(Actor[Numbered]):
        async def on_start(self) -> None:
            await self.send(out, Numbered(seq=0))

        async def handle(self, message: Numbered) -> None:
            pass

    async with one_actor(Greeter, log=EventLog()):
        assert out.mailbox.head().seq == 0


async def test_a_full_mailbox_downstream_holds_the_sender_back_without_dropping() -> None:
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=2)
    async with one_actor(lambda: Forwarder("a", journal, out), log=EventLog(), capacity=3) as sup:
        producer = asyncio.create_task(_tell_all(sup.ref("a"), 20))
        assert await drain(out, 20) == list(range(20))
        await producer
        assert sup.cell("a").statistics().handled == 20


async def _tell_all(ref: ActorRef[Numbered], count: int) -> None:
    for seq in range(count):
        await ref.tell(Numbered(seq=seq))


async def test_statistics_snapshot_has_what_metrics_and_health_read() -> None:
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=10)
    release, entered = asyncio.Event(), asyncio.Event()
    clock = FakeClock(start=500.0)
    sup = Supervisor(
        name="root",
        clock=clock,
        children=[ChildSpec(name="a", factory=lambda: Blocker(journal, release, entered, out), capacity=8)],
    )
    async with sup:
        for seq in range(3):
            await sup.ref("a").tell(Numbered(seq=seq))
        await entered.wait()
        stats = sup.cell("a").statistics()
        assert (stats.path, stats.state, stats.queue_depth, stats.capacity) == ("root/a", "busy", 3, 8)
        assert stats.last_heartbeat == 500.0  # when it reported ready
        flat = sup.actor_statistics()
        assert {"queue_depth", "handled", "failed", "restarts", "last_error", "last_heartbeat"} <= set(flat["root/a"])
        assert flat["root"]["restarts"] == 0
        release.set()
        assert await drain(out, 3) == [0, 1, 2]


async def test_the_heartbeat_stops_while_an_actor_is_stuck_in_one_message() -> None:
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=10)
    release, entered = asyncio.Event(), asyncio.Event()
    clock = FakeClock(start=0.0)
    sup = Supervisor(
        name="root",
        clock=clock,
        children=[ChildSpec(name="a", factory=lambda: Blocker(journal, release, entered, out))],
    )
    async with sup:
        cell = sup.cell("a")
        clock.advance(1.0)
        sup.heartbeat()  # idle: alive
        assert cell.last_heartbeat == 1.0
        await cell.ref.tell(Numbered(seq=1))
        await entered.wait()
        clock.advance(1.0)
        sup.heartbeat()  # busy, but this message began after the previous beat
        clock.advance(1.0)
        sup.heartbeat()  # still inside the same message: no beat
        assert cell.last_heartbeat == 2.0
        release.set()
        await drain(out, 1)
        clock.advance(1.0)
        sup.heartbeat()
        assert cell.last_heartbeat == 4.0
        assert sup.last_heartbeat == 4.0


async def test_actor_statistics_feed_the_prometheus_metrics() -> None:
    journal, out = Journal(), ActorRef[Numbered]("out", capacity=10)
    async with one_actor(lambda: Forwarder("a", journal, out), log=EventLog()) as sup:
        for seq in range(3):
            await sup.ref("a").tell(Numbered(seq=seq, crash_before=1 if seq == 1 else 0))
        await drain(out, 3)
        metrics = Metrics()
        metrics.watch_actors(sup.actor_statistics)
        text = metrics.exposition().decode()
        assert 'basso_actor_handled{actor="root/a"} 3.0' in text
        assert 'basso_actor_failed{actor="root/a"} 1.0' in text
        assert 'basso_actor_restarts{actor="root/a"} 1.0' in text
        assert 'basso_actor_queue_depth{actor="root/a"} 0.0' in text
