"""Supervision: strategies, restart types, intensity and escalation, deadlines, start and stop order."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from basso.actors import (
    Actor,
    ActorRef,
    ChildExited,
    ChildRestarting,
    ChildStarted,
    ChildStartFailed,
    Escalated,
    EventLog,
    ExitReason,
    FakeClock,
    SupervisorEvent,
)
from basso.supervisor import (
    EXIT_ESCALATED,
    Backoff,
    ChildSpec,
    RestartIntensity,
    RestartIntensityExceeded,
    Supervisor,
    run_supervised,
)
from tests.runtime.helpers import Blocker, Forwarder, Journal, Numbered, drain


def started(path: str) -> Callable[[SupervisorEvent], bool]:
    return lambda event: isinstance(event, ChildStarted) and event.path == path


def exited(path: str) -> Callable[[SupervisorEvent], bool]:
    return lambda event: isinstance(event, ChildExited) and event.path == path


def forwarders(journal: Journal, names: str, **spec: object) -> list[ChildSpec[Numbered]]:
    return [
        ChildSpec(name=name, factory=lambda name=name: Forwarder(name, journal), **spec)  # type: ignore[misc, arg-type]
        for name in names
    ]


def tree(children: list[ChildSpec[Numbered]], log: EventLog, **options: object) -> Supervisor:
    options.setdefault("clock", FakeClock())
    options.setdefault("backoff", Backoff(base_s=0.01, jitter=0.0))
    return Supervisor(name="root", children=children, observer=log, **options)  # type: ignore[arg-type]


class Quitter(Actor[Numbered]):
    """Exits normally (self.stop()) on a negative number, crashes on `crash_before`, journals its life."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def on_start(self) -> None:
        self.journal("start q")

    async def handle(self, message: Numbered) -> None:
        if message.seq < 0:
            self.stop()
        elif self.attempt <= message.crash_before:
            raise RuntimeError("crash")


async def test_one_for_one_restarts_only_the_failed_child() -> None:
    journal, log = Journal(), EventLog()
    async with tree(forwarders(journal, "abc"), log) as sup:
        journal.lines.clear()
        await sup.ref("b").tell(Numbered(seq=1, crash_before=1))
        await log.wait_for(started("root/b"), count=2)
        assert journal.lines == ["b 1 attempt 1", "stop b", "start b", "b 1 attempt 2"]
        assert [sup.cell(name).statistics().restarts for name in "abc"] == [0, 1, 0]
        assert log.count(lambda e: isinstance(e, ChildStarted)) == 4


async def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it_in_order() -> None:
    journal, log = Journal(), EventLog()
    async with tree(forwarders(journal, "abcd"), log, strategy="rest_for_one") as sup:
        assert journal.lines == ["start a", "start b", "start c", "start d"]
        journal.lines.clear()
        await sup.ref("b").tell(Numbered(seq=1, crash_before=1))
        await log.wait_for(started("root/d"), count=2)
        # b takes its kept message as soon as it is ready, before the supervisor starts c.
        assert journal.lines == [
            "b 1 attempt 1",
            "stop b",
            "stop d",
            "stop c",
            "start b",
            "b 1 attempt 2",
            "start c",
            "start d",
        ]
        assert [sup.cell(name).statistics().restarts for name in "abcd"] == [0, 1, 1, 1]


async def test_rest_for_one_loses_no_message_queued_for_the_siblings_it_restarts() -> None:
    journal, log, out = Journal(), EventLog(), ActorRef[Numbered]("out", capacity=100)
    children = [
        ChildSpec(name="a", factory=lambda: Forwarder("a", journal)),
        ChildSpec(name="b", factory=lambda: Forwarder("b", journal, out), capacity=100),
    ]
    async with tree(children, log, strategy="rest_for_one") as sup:
        for seq in range(50):
            await sup.ref("b").tell(Numbered(seq=seq))
        await sup.ref("a").tell(Numbered(seq=0, crash_before=1))
        assert await drain(out, 50) == list(range(50))


async def test_a_transient_child_is_not_restarted_after_a_normal_exit() -> None:
    journal, log = Journal(), EventLog()
    children = [ChildSpec(name="q", factory=lambda: Quitter(journal), restart="transient")]
    async with tree(children, log) as sup:
        await sup.ref("q").tell(Numbered(seq=-1))
        await log.wait_for(exited("root/q"))
        assert log.matching(exited("root/q"))[0].reason is ExitReason.NORMAL  # type: ignore[attr-defined]
        assert journal.lines == ["start q"]
        assert sup.cell("q").statistics().state == "stopped"
        assert not log.count(lambda e: isinstance(e, ChildRestarting))


async def test_a_transient_child_is_restarted_after_a_crash() -> None:
    journal, log = Journal(), EventLog()
    children = [ChildSpec(name="q", factory=lambda: Quitter(journal), restart="transient")]
    async with tree(children, log) as sup:
        await sup.ref("q").tell(Numbered(seq=1, crash_before=1))
        await log.wait_for(started("root/q"), count=2)
        assert journal.lines == ["start q", "start q"]


async def test_a_permanent_child_is_restarted_even_after_a_normal_exit() -> None:
    journal, log = Journal(), EventLog()
    async with tree([ChildSpec(name="q", factory=lambda: Quitter(journal))], log) as sup:
        await sup.ref("q").tell(Numbered(seq=-1))
        await log.wait_for(started("root/q"), count=2)
        assert sup.healthy()


async def test_a_temporary_child_is_never_restarted() -> None:
    journal, log = Journal(), EventLog()
    children = [ChildSpec(name="q", factory=lambda: Quitter(journal), restart="temporary")]
    async with tree(children, log) as sup:
        await sup.ref("q").tell(Numbered(seq=1, crash_before=1))
        await log.wait_for(exited("root/q"))
        assert log.matching(exited("root/q"))[0].reason is ExitReason.CRASHED  # type: ignore[attr-defined]
        assert journal.lines == ["start q"]
        assert sup.healthy()  # only permanent children are required to run


async def test_exceeding_the_restart_intensity_stops_the_children_and_escalates() -> None:
    # Default intensity: 5 restarts in 30 s. Six crashes in quick succession: five restarts, then give up.
    journal, log, clock = Journal(), EventLog(), FakeClock()
    sup = tree(forwarders(journal, "ab"), log, clock=clock)
    await sup.start()
    for seq in range(6):
        await sup.ref("b").tell(Numbered(seq=seq, crash_before=1))
    assert await sup.wait_exited() is ExitReason.CRASHED
    assert sup.task is not None
    with pytest.raises(RestartIntensityExceeded, match="root: more than 5 restarts within 30 s"):
        sup.task.result()
    assert log.count(lambda e: isinstance(e, ChildRestarting)) == 5
    assert log.count(lambda e: isinstance(e, Escalated)) == 1
    assert journal.lines[-2:] == ["stop b", "stop a"]  # b's crash stop, then a stopped by the escalation
    # Backoff without jitter: 0.01 s × 2^(n−1) for the n-th restart in the window.
    assert clock.sleeps == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16])
    assert not sup.healthy()


async def test_restarts_spread_wider_than_the_window_never_escalate() -> None:
    journal, log, clock = Journal(), EventLog(), FakeClock()
    async with tree(
        forwarders(journal, "a"), log, clock=clock, intensity=RestartIntensity(max_restarts=2, within_s=30.0)
    ) as sup:
        for crash in range(6):
            clock.advance(31.0)  # each crash alone in its 30 s window
            await sup.ref("a").tell(Numbered(seq=crash, crash_before=1))
            await log.wait_for(started("root/a"), count=crash + 2)
        assert sup.healthy()
        assert clock.sleeps == pytest.approx([0.01] * 6)  # first restart in its window each time


async def test_backoff_doubles_and_jitter_comes_from_the_injected_random_source() -> None:
    journal, log, clock = Journal(), EventLog(), FakeClock()
    backoff = Backoff(base_s=0.1, factor=2.0, max_s=0.3, jitter=0.5)
    sup = tree(
        forwarders(journal, "a"),
        log,
        clock=clock,
        backoff=backoff,
        rng=random.Random(7),
        intensity=RestartIntensity(max_restarts=4, within_s=30.0),
    )
    async with sup:
        for seq in range(4):
            await sup.ref("a").tell(Numbered(seq=seq, crash_before=1))
        await log.wait_for(started("root/a"), count=5)
    draws = random.Random(7)
    # raw delays 0.1, 0.2, 0.4 → capped 0.3, 0.3; each × (1 − 0.5 × u) with u the seeded draws in order.
    expected = [raw * (1 - 0.5 * draws.random()) for raw in (0.1, 0.2, 0.3, 0.3)]
    assert clock.sleeps == pytest.approx(expected)


async def test_a_failed_restart_counts_as_a_restart_and_is_retried() -> None:
    log = EventLog()
    incarnations = 0

    class FailsOnce(Actor[Numbered]):
        async def on_start(self) -> None:
            nonlocal incarnations
            incarnations += 1
            if incarnations == 2:
                raise ConnectionError("database not up yet")

        async def handle(self, message: Numbered) -> None:
            raise RuntimeError("crash")

    async with tree([ChildSpec(name="a", factory=FailsOnce)], log) as sup:
        await sup.ref("a").tell(Numbered(seq=1))
        await log.wait_for(started("root/a"), count=2)
        assert incarnations == 3
        assert log.count(lambda e: isinstance(e, ChildRestarting)) == 2
        assert sup.cell("a").statistics().restarts == 2
        assert sup.statistics().last_error == "root/a failed to start (crashed): ConnectionError: database not up yet"


async def test_the_shutdown_deadline_cancels_a_child_that_will_not_stop() -> None:
    journal, release, entered = Journal(), asyncio.Event(), asyncio.Event()
    children = [ChildSpec(name="stubborn", factory=lambda: Blocker(journal, release, entered), shutdown_s=0.05)]
    sup = tree(children, EventLog())
    await sup.start()
    await sup.ref("stubborn").tell(Numbered(seq=1))
    await entered.wait()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await sup.stop()
    assert loop.time() - began >= 0.049  # the deadline, less the loop's timer tolerance
    assert journal.lines == ["enter 1", "cancelled 1"]
    assert sup.ref("stubborn").mailbox.head().seq == 1  # cancelled, but the message is kept
    assert sup.cell("stubborn").statistics().state == "stopped"


async def test_children_stop_in_the_reverse_of_their_start_order_through_nested_supervisors() -> None:
    journal, log = Journal(), EventLog()
    inner = Supervisor(name="inner", children=forwarders(journal, "bc"))
    children = [*forwarders(journal, "a"), inner.as_child(), *forwarders(journal, "d")]
    async with tree(children, log) as sup:
        assert journal.lines == ["start a", "start b", "start c", "start d"]
        assert sup.ref("inner/c").name == "c"
        assert sup.cell("inner/c").path == "root/inner/c"
    assert journal.lines[4:] == ["stop d", "stop c", "stop b", "stop a"]


async def test_a_nested_supervisor_that_escalates_is_restarted_by_its_parent_with_its_mailboxes_intact() -> None:
    journal, log, out = Journal(), EventLog(), ActorRef[Numbered]("out", capacity=10)
    inner = Supervisor(
        name="inner",
        intensity=RestartIntensity(max_restarts=1, within_s=30.0),
        children=[ChildSpec(name="x", factory=lambda: Forwarder("x", journal, out))],
    )
    async with tree([*forwarders(journal, "a"), inner.as_child()], log) as sup:
        await sup.ref("inner/x").tell(Numbered(seq=1, crash_before=1))
        await sup.ref("inner/x").tell(Numbered(seq=2, crash_before=1))
        await sup.ref("inner/x").tell(Numbered(seq=3))
        await log.wait_for(started("root/inner"), count=2)
        assert await drain(out, 3) == [1, 2, 3]
        assert log.count(lambda e: isinstance(e, Escalated) and e.path == "root/inner") == 1
        assert sup.healthy()
        assert sup.actor_statistics()["root/inner"]["restarts"] == 1
        assert "start a" not in journal.lines[1:]  # one_for_one at the root: a untouched


async def test_a_child_that_fails_to_start_stops_those_already_started_and_is_named() -> None:
    journal = Journal()

    class Broken(Actor[Numbered]):
        async def on_start(self) -> None:
            raise OSError("port 5002 in use")

    sup = tree([*forwarders(journal, "a"), ChildSpec(name="b", factory=Broken), *forwarders(journal, "c")], EventLog())
    with pytest.raises(ChildStartFailed, match=r"root/b failed to start \(crashed\): OSError: port 5002 in use"):
        await sup.start()
    assert journal.lines == ["start a", "stop a"]


async def test_run_supervised_returns_zero_after_a_stop() -> None:
    log = EventLog()
    sup = tree(forwarders(Journal(), "a"), log)
    running = asyncio.create_task(run_supervised(sup))
    await log.wait_for(started("root/a"))
    await sup.stop()
    assert await running == 0


async def test_run_supervised_returns_non_zero_after_escalation() -> None:
    sup = tree(forwarders(Journal(), "a"), EventLog(), intensity=RestartIntensity(max_restarts=0, within_s=1.0))
    running = asyncio.create_task(run_supervised(sup))
    await sup.ref("a").tell(Numbered(seq=1, crash_before=1))
    assert await running == EXIT_ESCALATED


async def test_cancelling_the_root_runner_stops_the_tree_and_propagates_the_cancellation() -> None:
    journal, log = Journal(), EventLog()
    sup = tree(forwarders(journal, "ab"), log)
    running = asyncio.create_task(run_supervised(sup))
    await log.wait_for(started("root/b"))
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert journal.lines == ["start a", "start b", "stop b", "stop a"]


def test_the_process_exits_non_zero_when_the_root_gives_up() -> None:
    script = textwrap.dedent("""
        import asyncio, sys
        from basso.actors import Actor
        from basso.supervisor import ChildSpec, RestartIntensity, Supervisor, run_supervised

        class Crasher(Actor[int]):
            async def on_start(self) -> None:
                await self.ref.tell(1)
            async def handle(self, message: int) -> None:
                raise RuntimeError("always")

        async def main() -> int:
            root = Supervisor(name="root", intensity=RestartIntensity(max_restarts=2, within_s=60),
                              children=[ChildSpec(name="crasher", factory=Crasher)])
            return await run_supervised(root)

        sys.exit(asyncio.run(main()))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == EXIT_ESCALATED, result.stderr
    assert "root: more than 2 restarts within 60 s; giving up" in result.stderr


async def test_a_fault_in_the_child_spec_crashes_the_actor_before_it_handles_and_the_message_is_kept() -> None:
    journal, log, faults = Journal(), EventLog(), [RuntimeError("injected")]

    def fault(path: str) -> None:
        journal(f"fault {path}")
        if faults:
            raise faults.pop()

    out: ActorRef[Numbered] = ActorRef("out")
    async with tree([ChildSpec(name="a", factory=lambda: Forwarder("a", journal, out), fault=fault)], log) as sup:
        journal.lines.clear()
        await sup.ref("a").tell(Numbered(seq=1))
        assert (await asyncio.wait_for(out.mailbox.get(), 10)).seq == 1  # handled once, after the restart
        assert journal.lines == ["fault root/a", "stop a", "start a", "fault root/a", "a 1 attempt 2"]
        assert sup.cell("a").statistics().failed == 1


def test_child_specs_refuse_bad_values_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="restart must be permanent, transient or temporary, got 'sometimes'"):
        ChildSpec(name="a", factory=lambda: Forwarder("a", Journal()), restart="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown_s must be greater than 0"):
        ChildSpec(name="a", factory=lambda: Forwarder("a", Journal()), shutdown_s=0)
    with pytest.raises(ValueError, match="give exactly one of factory= and supervisor="):
        ChildSpec(name="a")
    with pytest.raises(ValueError, match="duplicate child names a"):
        Supervisor(name="root", children=forwarders(Journal(), "aa"))
    with pytest.raises(ValueError, match="strategy must be one_for_one or rest_for_one"):
        Supervisor(name="root", children=[], strategy="all_for_one")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_restarts must be a whole number ≥ 0"):
        RestartIntensity(max_restarts=-1)


async def test_a_stop_during_a_restart_leaves_no_child_of_a_nested_supervisor_running() -> None:
    # Root (rest_for_one): `a`, then a nested supervisor whose one child is slow to start. `a` crashes; while the
    # root restarts the group, the nested supervisor is part-way through starting its child when the root is
    # stopped. The half-started child must be stopped too, not left running with nobody to stop it.
    journal, log = Journal(), EventLog()
    starting, release = asyncio.Event(), asyncio.Event()
    release.set()  # the first start is quick

    class SlowStart(Actor[Numbered]):
        async def on_start(self) -> None:
            starting.set()
            await release.wait()

        async def handle(self, message: Numbered) -> None:
            return None

    inner = Supervisor(name="inner", children=[ChildSpec(name="slow", factory=SlowStart)])
    root = tree(
        [*forwarders(journal, "a"), inner.as_child()],
        log,
        strategy="rest_for_one",
        backoff=Backoff(base_s=0.0, max_s=0.0),
    )
    await root.start()
    slow = inner.cell("slow")
    release.clear()
    starting.clear()
    await root.ref("a").tell(Numbered(seq=1, crash_before=1))
    await starting.wait()  # the restart is inside the slow child's start
    await root.stop()
    assert slow.task is not None
    assert slow.task.done()
