"""The pause gate: open only while leader and recovered; closing it pauses work, it is not a crash."""

from __future__ import annotations

import asyncio
import contextlib

from basso.actors import Actor, ActorRef, ChildExited, EventLog, ExitReason, FakeClock, PauseGate
from basso.supervisor import Backoff, ChildSpec, Supervisor
from tests.runtime.helpers import Blocker, Forwarder, Journal, Numbered, drain


def gated(actor: object, gate: PauseGate, log: EventLog | None = None, capacity: int = 128) -> Supervisor:
    return Supervisor(
        name="root",
        clock=FakeClock(),
        observer=log,
        backoff=Backoff(base_s=0.0),
        children=[ChildSpec(name="a", factory=actor, gate=gate, capacity=capacity)],  # type: ignore[arg-type]
    )


def test_the_gate_is_open_only_while_leader_and_recovered() -> None:
    gate = PauseGate()
    seen = []
    for leader, recovered in ((False, False), (True, False), (False, True), (True, True)):
        gate.set_leader(leader)
        gate.set_recovered(recovered)
        seen.append(gate.is_open)
    assert seen == [False, False, False, True]
    assert PauseGate(leader=True, recovered=True).is_open


async def test_nothing_passes_a_closed_gate_and_reopening_delivers_everything_in_order() -> None:
    gate, journal, out = PauseGate(leader=False, recovered=True), Journal(), ActorRef[Numbered]("out", capacity=200)
    async with gated(lambda: Forwarder("a", journal, out), gate) as sup:
        for seq in range(100):
            await sup.ref("a").tell(Numbered(seq=seq))
        await gate.wait_paused()
        stats = sup.cell("a").statistics()
        assert (stats.state, stats.handled, stats.queue_depth, len(out.mailbox)) == ("paused", 0, 100, 0)
        gate.set_leader(True)
        assert await drain(out, 100) == list(range(100))


async def test_a_gate_closed_while_running_stops_new_messages_and_reopening_resumes_without_loss() -> None:
    gate, journal, out = PauseGate(leader=True, recovered=True), Journal(), ActorRef[Numbered]("out", capacity=200)
    async with gated(lambda: Forwarder("a", journal, out), gate) as sup:
        for seq in range(10):
            await sup.ref("a").tell(Numbered(seq=seq))
        assert await drain(out, 10) == list(range(10))
        gate.set_recovered(False)  # e.g. a new leadership term: recovery must run again
        for seq in range(10, 20):
            await sup.ref("a").tell(Numbered(seq=seq))
        await gate.wait_paused()
        assert (sup.cell("a").statistics().handled, len(out.mailbox)) == (10, 0)
        gate.set_recovered(True)
        assert await drain(out, 10) == list(range(10, 20))
        assert sup.cell("a").statistics().handled == 20


async def test_closing_the_gate_mid_message_pauses_it_without_a_crash_and_reopening_redoes_it_once() -> None:
    gate, journal, out, log = PauseGate(leader=True, recovered=True), Journal(), ActorRef[Numbered]("out"), EventLog()
    release, entered = asyncio.Event(), asyncio.Event()
    async with gated(lambda: Blocker(journal, release, entered, out), gate, log) as sup:
        await sup.ref("a").tell(Numbered(seq=1))
        await entered.wait()
        gate.set_leader(False)
        await gate.wait_paused()
        stats = sup.cell("a").statistics()
        assert journal.lines == ["enter 1", "cancelled 1"]
        assert (stats.state, stats.pauses, stats.failed, stats.restarts, stats.queue_depth) == ("paused", 1, 0, 0, 1)
        assert len(out.mailbox) == 0
        release.set()
        gate.set_leader(True)
        assert await drain(out, 1) == [1]
        assert journal.lines == ["enter 1", "cancelled 1", "enter 1", "done 1"]
        # Only the first start: no exit, no restart, because a pause is not a crash.
        assert [type(event).__name__ for event in log.events] == ["ChildStarted"]


async def test_a_kill_that_coincides_with_a_pause_still_ends_the_task() -> None:
    # The runtime ends its own pause-cancellation; a second, foreign cancellation must still propagate.
    gate, journal, out, log = PauseGate(leader=True, recovered=True), Journal(), ActorRef[Numbered]("out"), EventLog()
    release, entered = asyncio.Event(), asyncio.Event()
    async with gated(lambda: Blocker(journal, release, entered, out), gate, log) as sup:
        await sup.ref("a").tell(Numbered(seq=1))
        await entered.wait()
        first = sup.cell("a").task
        assert first is not None
        gate.set_leader(False)
        sup.cell("a").kill()
        await log.wait_for(lambda e: isinstance(e, ChildExited) and e.reason is ExitReason.KILLED)
        assert first.cancelled()
        release.set()
        gate.set_leader(True)
        assert await drain(out, 1) == [1]


async def test_wait_paused_waits_for_work_in_progress_to_wind_down() -> None:
    gate = PauseGate(leader=True, recovered=True)
    entered, cleaning, cleaned = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class SlowToPause(Actor[Numbered]):
        async def handle(self, message: Numbered) -> None:
            entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cleaning.set()
                await cleaned.wait()  # e.g. a transaction rolling back
                raise

    async with gated(SlowToPause, gate) as sup:
        await sup.ref("a").tell(Numbered(seq=1))
        await entered.wait()
        gate.set_recovered(False)
        waiter = asyncio.create_task(gate.wait_paused())
        await cleaning.wait()
        assert not waiter.done()
        cleaned.set()
        await waiter
        assert sup.cell("a").statistics().state == "paused"
        assert gate.statistics().paused == 1


async def test_actors_without_the_gate_keep_working_while_it_is_closed() -> None:
    gate, journal = PauseGate(), Journal()
    out_gated, out_free = ActorRef[Numbered]("gated out"), ActorRef[Numbered]("free out")
    sup = Supervisor(
        name="root",
        children=[
            ChildSpec(name="persister", factory=lambda: Forwarder("persister", journal, out_free)),
            ChildSpec(name="sizer", factory=lambda: Forwarder("sizer", journal, out_gated), gate=gate),
        ],
    )
    async with sup:
        await sup.ref("persister").tell(Numbered(seq=1))
        await sup.ref("sizer").tell(Numbered(seq=2))
        assert await drain(out_free, 1) == [1]
        await gate.wait_paused()
        assert len(out_gated.mailbox) == 0
        assert gate.statistics().closes == 0  # it was never open


async def test_a_handler_that_swallows_the_pause_still_forwards_nothing_past_the_closed_gate() -> None:
    gate, out = PauseGate(leader=True, recovered=True), ActorRef[Numbered]("out")
    entered, handled = asyncio.Event(), []

    class Swallower(Actor[Numbered]):
        async def handle(self, message: Numbered) -> None:
            handled.append(message.seq)
            if len(handled) == 1:
                entered.set()
                with contextlib.suppress(asyncio.CancelledError):  # a careless library loses the cancellation
                    await asyncio.Event().wait()
            await self.send(out, message)

    async with gated(Swallower, gate) as sup:
        await sup.ref("a").tell(Numbered(seq=1))
        await entered.wait()
        gate.set_leader(False)
        await gate.wait_paused()
        assert len(out.mailbox) == 0
        assert sup.cell("a").statistics().pauses == 1
        gate.set_leader(True)
        assert await drain(out, 1) == [1]
        assert handled == [1, 1]
