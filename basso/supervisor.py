"""Supervision: child specs, restart strategies, restart intensity with backoff, escalation, the root's exit.

Erlang/OTP semantics, as `mode` and `pykka` port them, with the gaps closed:

* A `ChildSpec` names an actor factory (or a nested `Supervisor`), a restart type and a shutdown deadline:
  `permanent` children are always restarted, `transient` ones only after an abnormal exit (crash or kill),
  `temporary` ones never.
* `one_for_one` restarts only the child that failed; `rest_for_one` stops the children started after it
  (in reverse order) and restarts the failed child and those, in start order.
* Restart intensity: more than `max_restarts` restarts within `within_s` seconds and the supervisor stops
  its children and escalates (its own task fails with `RestartIntensityExceeded`); its parent then treats it
  as a crashed child, and at the root `run_supervised` returns a non-zero exit code.
* Between restarts the supervisor waits an exponential backoff with jitter; the clock and the random
  source are injected, so tests need no sleeps and are deterministic.
* `start()` starts the children in order, each one ready before the next, and returns once all are ready;
  `stop()` stops them in reverse order, each within its shutdown deadline, after which it is cancelled.
* `CancelledError` is never swallowed; an exception is never dropped (it is recorded and logged).
* Mailboxes belong to the slots of the supervisor, so a restarted child (or a restarted nested supervisor,
  which is the same object started again) loses no message it had accepted.

Lifecycle of a supervisor::

    start() ─► start child 1 ─► ready ─► child 2 ─► ready … ─► supervising
                                                                │  child exits unexpectedly
                                                                ▼
                  restart type says no ◄── decide ──► count restart: over intensity? ──yes──► escalate
                                                        │ no                                   │
                                                        ▼                                      ▼
                                      backoff (clock.sleep) ─► start the group in order   stop children
                                                                                         (reverse), fail
    stop() ─► end the supervising loop (cancel it if mid-restart) ─► stop children in reverse order, each
              within its shutdown deadline

Unspecified `clock`, `rng`, `dead_letters` and `observer` are inherited from the parent supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Literal, Protocol, TypeVar

from basso.actors.base import DEFAULT_CAPACITY, Actor, ActorCell, ActorRef, ActorStatistics, ChildStartFailed, no_fault
from basso.actors.clock import Clock, SystemClock
from basso.actors.deadletter import DeadLetterBox, DeadLetterSink
from basso.actors.events import ChildExited, ChildRestarting, ChildStarted, Escalated, ExitReason, Observer
from basso.actors.gate import PauseGate

__all__ = [
    "EXIT_ESCALATED",
    "Backoff",
    "ChildSpec",
    "Restart",
    "RestartIntensity",
    "RestartIntensityExceeded",
    "Strategy",
    "Supervisor",
    "SupervisorStatistics",
    "run_supervised",
]

logger = logging.getLogger("basso.supervisor")

M = TypeVar("M")

Restart = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "rest_for_one"]

EXIT_ESCALATED = 70  # EX_SOFTWARE: the service manager restarts the process


class RestartIntensityExceeded(Exception):
    """A supervisor restarted its children more often than its intensity allows and gave up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartIntensity:
    """At most `max_restarts` restarts within `within_s` seconds (OTP's MaxR and MaxT)."""

    max_restarts: int = 5
    within_s: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be a whole number ≥ 0, got {self.max_restarts!r}")
        if not self.within_s > 0:
            raise ValueError(f"within_s must be greater than 0, got {self.within_s!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential backoff with jitter: the n-th restart in the window waits base_s × factor^(n−1), capped
    at max_s, then scaled by a random factor in [1 − jitter, 1] so that restarts of many children spread."""

    base_s: float = 0.02
    factor: float = 2.0
    max_s: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < 0:
            raise ValueError(f"backoff delays must be ≥ 0, got base_s={self.base_s!r}, max_s={self.max_s!r}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be ≥ 1, got {self.factor!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be within [0, 1], got {self.jitter!r}")

    def delay(self, restarts_in_window: int, rng: random.Random) -> float:
        """The wait before the `restarts_in_window`-th restart (1 for the first)."""
        exponent = max(0, restarts_in_window - 1)
        raw = min(self.max_s, self.base_s * self.factor**exponent)
        return raw * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec(Generic[M]):
    """How to run one child: an actor `factory` (called for every incarnation) or a nested `supervisor`. `M` is
    what the actor takes: its factory's actors and its `ref` must agree on it."""

    name: str
    factory: Callable[[], Actor[M]] | None = None
    supervisor: Supervisor | None = None
    restart: Restart = "permanent"
    shutdown_s: float = 5.0
    capacity: int = DEFAULT_CAPACITY
    ref: ActorRef[M] | None = None
    gate: PauseGate | None = None
    # Called with the actor's path before each message is handled; chaos tests raise here to crash the actor as
    # its handler would. Production never sets it.
    fault: Callable[[str], None] = no_fault

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"child name must be non-empty and contain no '/', got {self.name!r}")
        if (self.factory is None) == (self.supervisor is None):
            raise ValueError(f"child {self.name!r}: give exactly one of factory= and supervisor=")
        if self.restart not in ("permanent", "transient", "temporary"):
            raise ValueError(
                f"child {self.name!r}: restart must be permanent, transient or temporary, got {self.restart!r}"
            )
        if not self.shutdown_s > 0:
            raise ValueError(f"child {self.name!r}: shutdown_s must be greater than 0, got {self.shutdown_s!r}")
        if self.supervisor is not None and (self.ref is not None or self.gate is not None):
            raise ValueError(f"child {self.name!r}: a supervisor child has no mailbox or gate of its own")


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStatistics:
    """A snapshot of a supervisor and, recursively, its children."""

    path: str
    strategy: str
    state: str
    restarts: int
    restarts_in_window: int
    last_error: str | None
    last_heartbeat: float | None
    children: tuple[ActorStatistics | SupervisorStatistics, ...] = field(default=())


class _Child(Protocol):
    """What a supervisor needs from a child: an actor cell or a nested supervisor."""

    path: str

    @property
    def task(self) -> asyncio.Task[None] | None: ...

    async def start(self) -> None: ...

    async def stop(self, deadline_s: float) -> None: ...

    def exit_reason(self, task: asyncio.Task[None]) -> tuple[ExitReason, BaseException | None]: ...

    def note_restart(self) -> None: ...

    def heartbeat(self) -> None: ...

    def statistics(self) -> ActorStatistics | SupervisorStatistics: ...


class _Slot:
    """One child position: its spec, its mailbox and its current runner; outlives every restart."""

    def __init__(self, spec: ChildSpec[Any]) -> None:
        self.spec = spec
        self.ref: ActorRef[Any] | None = None
        if spec.factory is not None:
            self.ref = spec.ref if spec.ref is not None else ActorRef(spec.name, capacity=spec.capacity)
        self.child: _Child | None = None
        self.generation = 0
        self.running = False
        self.stopping = False


@dataclass(frozen=True, slots=True)
class _Exit:
    slot: _Slot
    generation: int
    reason: ExitReason
    error: BaseException | None
    at: float


class Supervisor:
    """Starts, watches and restarts its children; itself startable as a child of another supervisor."""

    def __init__(
        self,
        *,
        name: str,
        children: Iterable[ChildSpec[Any]],
        strategy: Strategy = "one_for_one",
        intensity: RestartIntensity | None = None,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        dead_letters: DeadLetterSink | None = None,
        observer: Observer | None = None,
        poison_after: int = 3,
        heartbeat_s: float = 1.0,
    ) -> None:
        if strategy not in ("one_for_one", "rest_for_one"):
            raise ValueError(f"supervisor {name!r}: strategy must be one_for_one or rest_for_one, got {strategy!r}")
        if poison_after < 1:
            raise ValueError(f"supervisor {name!r}: poison_after must be ≥ 1, got {poison_after!r}")
        self.name = name
        self.path = name
        self.strategy: Strategy = strategy
        self.intensity = intensity or RestartIntensity()
        self.backoff = backoff or Backoff()
        self.poison_after = poison_after
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self._rng = rng
        self._dead_letters = dead_letters
        self._observer = observer
        self._slots = [_Slot(spec) for spec in children]
        names = [slot.spec.name for slot in self._slots]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"supervisor {name!r}: duplicate child names {', '.join(duplicates)}")
        self.task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.last_error: str | None = None
        self.last_heartbeat: float | None = None
        self._restart_times: deque[float] = deque()
        self._exits: deque[_Exit] = deque()
        self._exit_waiter: asyncio.Future[None] | None = None
        self._stopping = False
        self._restarting = False
        self._ticker: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Supervisor {self.path} {self.strategy}>"

    def as_child(self, *, restart: Restart = "permanent", shutdown_s: float = 30.0) -> ChildSpec[Any]:
        """A child spec that runs this supervisor (the same object, so its mailboxes survive its restarts)."""
        return ChildSpec(name=self.name, supervisor=self, restart=restart, shutdown_s=shutdown_s)

    # --- addresses and introspection ----------------------------------------------------------------

    def ref(self, path: str) -> ActorRef[Any]:
        """The address of the actor at `path` ("sizer", or "trading/sizer" through nested supervisors)."""
        slot, rest = self._slot_for(path)
        if slot.spec.supervisor is not None:
            if not rest:
                raise KeyError(f"{self.path}/{path} is a supervisor, not an actor")
            return slot.spec.supervisor.ref(rest)
        if rest or slot.ref is None:
            raise KeyError(f"{self.path}: no actor at {path!r}")
        return slot.ref

    def cell(self, path: str) -> ActorCell[Any]:
        """The runtime cell of the actor at `path` (its task, its statistics); it exists once started."""
        slot, rest = self._slot_for(path)
        if slot.spec.supervisor is not None:
            if not rest:
                raise KeyError(f"{self.path}/{path} is a supervisor, not an actor")
            return slot.spec.supervisor.cell(rest)
        if rest or not isinstance(slot.child, ActorCell):
            raise KeyError(f"{self.path}: no started actor at {path!r}")
        return slot.child

    def statistics(self) -> SupervisorStatistics:
        """A snapshot of this supervisor and everything under it."""
        children = tuple(slot.child.statistics() for slot in self._slots if slot.child is not None)
        state = "running" if self.task is not None and not self.task.done() else "stopped"
        return SupervisorStatistics(
            path=self.path,
            strategy=self.strategy,
            state=state,
            restarts=self.restarts,
            restarts_in_window=len(self._restart_times),
            last_error=self.last_error,
            last_heartbeat=self.last_heartbeat,
            children=children,
        )

    def actor_statistics(self) -> dict[str, dict[str, Any]]:
        """Every actor's and supervisor's snapshot by path, flattened (the source /metrics watches)."""
        flat: dict[str, dict[str, Any]] = {}
        _flatten(self.statistics(), flat)
        return flat

    def healthy(self) -> bool:
        """True while this supervisor and every permanent child under it are running."""
        if self.task is None or self.task.done():
            return False
        for slot in self._slots:
            if slot.spec.restart != "permanent":
                continue
            if slot.spec.supervisor is not None:
                if not slot.spec.supervisor.healthy():
                    return False
            elif slot.child is None or slot.child.task is None or slot.child.task.done():
                return False
        return True

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the children in order, each ready before the next; return once all are ready.

        If a child fails to start, those already started are stopped in reverse order and the
        `ChildStartFailed` is raised.
        """
        if self.task is not None and not self.task.done():
            raise RuntimeError(f"{self.path} is already running")
        self._stopping = False
        self._restart_times.clear()
        self._exits.clear()
        for slot in reversed(self._slots):
            # Left running only if our previous supervising task was cancelled before it ever ran.
            if slot.child is not None and slot.child.task is not None and not slot.child.task.done():
                await self._stop_slot(slot)
        started: list[_Slot] = []
        try:
            for slot in self._slots:
                # Listed before its start: one interrupted part-way (this supervisor's own parent stopping it) may
                # already run, and must be stopped with the others.
                started.append(slot)
                await self._start_slot(slot)
        except BaseException:
            for slot in reversed(started):
                await self._stop_slot(slot)
            raise
        self.last_heartbeat = self._the_clock().monotonic()
        self.task = asyncio.get_running_loop().create_task(self._supervise(), name=f"supervisor {self.path}")
        self._schedule_heartbeat()

    async def stop(self, deadline_s: float | None = None) -> None:
        """Stop every child in reverse start order, each within its own shutdown deadline.

        `deadline_s` is accepted for symmetry with actors and ignored: like OTP's supervisors, a supervisor
        waits for its children, whose own deadlines bound the wait.
        """
        self._stopping = True
        task = self.task
        if task is None:
            return
        waiter = self._exit_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # idle: let the supervising loop end and stop the children itself
        elif self._restarting and not task.done():
            task.cancel()  # part-way through a restart: interrupt it; its `finally` stops the children
        # Otherwise the loop has not run yet (a task cancelled before its first step would skip its
        # `finally`, leaving the children running), and it will see the stop as soon as it does.
        await asyncio.wait((task,))

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_exited(self) -> ExitReason:
        """Wait until the supervising task has ended, and say why."""
        task = self.task
        if task is None:
            raise RuntimeError(f"{self.path} was never started")
        await asyncio.wait((task,))
        return self.exit_reason(task)[0]

    def exit_reason(self, task: asyncio.Task[None]) -> tuple[ExitReason, BaseException | None]:
        """Why the supervising `task` ended."""
        if task.cancelled():
            return (ExitReason.SHUTDOWN if self._stopping else ExitReason.KILLED), None
        error = task.exception()
        if error is not None:
            return ExitReason.CRASHED, error
        return (ExitReason.SHUTDOWN if self._stopping else ExitReason.NORMAL), None

    def note_restart(self) -> None:
        """Count a restart of this supervisor by its parent."""
        self.restarts += 1

    def heartbeat(self) -> None:
        """Record a heartbeat for this supervisor and its actor children."""
        if self.task is None or self.task.done():
            return
        self.last_heartbeat = self._the_clock().monotonic()
        for slot in self._slots:
            if slot.child is not None and slot.spec.supervisor is None:
                slot.child.heartbeat()

    # --- inheritance from the parent -----------------------------------------------------------------

    def _adopt(self, parent: Supervisor, path: str) -> None:
        self.path = path
        self._clock = self._clock or parent._clock
        self._rng = self._rng or parent._rng
        self._dead_letters = self._dead_letters or parent._dead_letters
        self._observer = self._observer or parent._observer

    def _the_clock(self) -> Clock:
        if self._clock is None:
            self._clock = SystemClock()
        return self._clock

    def _the_rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random()
        return self._rng

    def _the_dead_letters(self) -> DeadLetterSink:
        if self._dead_letters is None:
            self._dead_letters = DeadLetterBox()
        return self._dead_letters

    # --- children --------------------------------------------------------------------------------------

    def _child_of(self, slot: _Slot) -> _Child:
        if slot.child is None:
            spec = slot.spec
            path = f"{self.path}/{spec.name}"
            if spec.supervisor is not None:
                spec.supervisor._adopt(self, path)
                slot.child = spec.supervisor
            else:
                assert spec.factory is not None
                assert slot.ref is not None
                slot.child = ActorCell(
                    path=path,
                    factory=spec.factory,
                    ref=slot.ref,
                    clock=self._the_clock(),
                    dead_letters=self._the_dead_letters(),
                    poison_after=self.poison_after,
                    gate=spec.gate,
                    fault=spec.fault,
                )
        return slot.child

    async def _start_slot(self, slot: _Slot) -> None:
        child = self._child_of(slot)
        slot.generation += 1
        slot.stopping = False
        # Running from now on: a ready child may already work before this coroutine resumes.
        slot.running = True
        try:
            await child.start()
        except BaseException:
            slot.running = False
            raise
        task = child.task
        assert task is not None
        task.add_done_callback(partial(self._on_child_exit, slot, slot.generation))
        self._emit(ChildStarted(path=child.path, at=self._the_clock().monotonic(), generation=slot.generation))

    async def _stop_slot(self, slot: _Slot) -> None:
        if slot.child is None:
            return
        slot.stopping = True
        await slot.child.stop(slot.spec.shutdown_s)
        slot.running = False

    def _on_child_exit(self, slot: _Slot, generation: int, task: asyncio.Task[None]) -> None:
        assert slot.child is not None
        reason, error = slot.child.exit_reason(task)  # also retrieves the exception: it is never dropped
        if generation != slot.generation:
            return
        slot.running = False
        if slot.stopping or self._stopping:
            return
        self._exits.append(_Exit(slot, generation, reason, error, self._the_clock().monotonic()))
        waiter = self._exit_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _next_exit(self) -> _Exit | None:
        """The next unexpected exit, or None once a stop has been requested."""
        while not self._exits and not self._stopping:
            self._exit_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._exit_waiter
            finally:
                self._exit_waiter = None
        return None if self._stopping else self._exits.popleft()

    # --- supervising -----------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            while (exit_ := await self._next_exit()) is not None:
                slot = exit_.slot
                if exit_.generation != slot.generation or slot.running:
                    continue  # already restarted with its group
                assert slot.child is not None
                error = f"{type(exit_.error).__name__}: {exit_.error}" if exit_.error is not None else None
                self._emit(ChildExited(path=slot.child.path, at=exit_.at, reason=exit_.reason, error=error))
                if not _should_restart(slot.spec.restart, exit_.reason):
                    continue
                self._restarting = True
                try:
                    await self._restart(self._group_of(slot))
                finally:
                    self._restarting = False
        except RestartIntensityExceeded as exc:
            self.last_error = str(exc)
            logger.error("%s", exc)
            self._emit(Escalated(path=self.path, at=self._the_clock().monotonic(), error=str(exc)))
            raise
        finally:
            if self._ticker is not None:
                self._ticker.cancel()
            for slot in reversed(self._slots):
                await self._stop_slot(slot)

    def _group_of(self, failed: _Slot) -> list[_Slot]:
        if self.strategy == "one_for_one":
            return [failed]
        later = self._slots[self._slots.index(failed) + 1 :]
        return [failed] + [slot for slot in later if slot.running and slot.spec.restart != "temporary"]

    async def _restart(self, group: list[_Slot]) -> None:
        """Restart `group` (in start order) after stopping its running members (in reverse order)."""
        later = self._slots[self._slots.index(group[0]) + 1 :] if self.strategy == "rest_for_one" else []
        for slot in reversed(later):
            if slot.running:
                await self._stop_slot(slot)
        pending = group
        while pending:
            self._count_restart()
            delay = self.backoff.delay(len(self._restart_times), self._the_rng())
            self._emit(
                ChildRestarting(
                    path=f"{self.path}/{pending[0].spec.name}",
                    at=self._the_clock().monotonic(),
                    delay_s=delay,
                    restarts_in_window=len(self._restart_times),
                )
            )
            await self._the_clock().sleep(delay)
            pending = await self._start_group(pending)

    async def _start_group(self, group: list[_Slot]) -> list[_Slot]:
        """Start `group` in order; the members still to start if one fails (it counts as a new failure)."""
        for index, slot in enumerate(group):
            # Counted before the start: a restarted actor may handle messages before this task resumes.
            self._child_of(slot).note_restart()
            try:
                await self._start_slot(slot)
            except ChildStartFailed as exc:
                self.last_error = str(exc)
                logger.error("%s: restart failed: %s", self.path, exc)
                return group[index:]
        return []

    def _count_restart(self) -> None:
        now = self._the_clock().monotonic()
        window = self.intensity.within_s
        times = self._restart_times
        while times and now - times[0] > window:
            times.popleft()
        times.append(now)
        if len(times) > self.intensity.max_restarts:
            raise RestartIntensityExceeded(
                f"{self.path}: more than {self.intensity.max_restarts} restarts within {window:g} s; giving up"
            )

    # --- heartbeat and events ------------------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        # Real loop time, not the injected clock: a fake clock must not make the ticker spin.
        loop = asyncio.get_running_loop()
        self._ticker = loop.call_later(self.heartbeat_s, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        if self.task is None or self.task.done():
            return
        self.heartbeat()
        self._schedule_heartbeat()

    def _emit(self, event: Any) -> None:
        if self._observer is not None:
            try:
                self._observer(event)
            except Exception as exc:
                logger.error("%s: the observer failed on %r", self.path, event, exc_info=exc)

    def _slot_for(self, path: str) -> tuple[_Slot, str]:
        head, _, rest = path.partition("/")
        for slot in self._slots:
            if slot.spec.name == head:
                return slot, rest
        raise KeyError(
            f"{self.path}: no child named {head!r} (children: {', '.join(slot.spec.name for slot in self._slots)})"
        )


def _should_restart(restart: Restart, reason: ExitReason) -> bool:
    if restart == "permanent":
        return True
    if restart == "transient":
        return reason in (ExitReason.CRASHED, ExitReason.KILLED)
    return False


def _flatten(snapshot: ActorStatistics | SupervisorStatistics, into: dict[str, dict[str, Any]]) -> None:
    if isinstance(snapshot, ActorStatistics):
        into[snapshot.path] = snapshot.as_dict()
        return
    into[snapshot.path] = {
        "state": snapshot.state,
        "restarts": snapshot.restarts,
        "restarts_in_window": snapshot.restarts_in_window,
        "last_error": snapshot.last_error,
        "last_heartbeat": snapshot.last_heartbeat,
    }
    for child in snapshot.children:
        _flatten(child, into)


async def run_supervised(root: Supervisor) -> int:
    """Run `root` until it ends and return the process exit code: 0 after a stop, non-zero if it gave up.

    A root that cannot start, or that escalates past its restart intensity, yields `EXIT_ESCALATED`, so the
    service manager restarts the whole process. If this coroutine is cancelled (Ctrl-C, SIGTERM handling),
    the tree is stopped in reverse order first and the cancellation propagates.
    """
    try:
        await root.start()
    except ChildStartFailed as exc:
        logger.error("%s could not start: %s", root.path, exc)
        return EXIT_ESCALATED
    try:
        reason = await root.wait_exited()
    except asyncio.CancelledError:
        await root.stop()
        raise
    return 0 if reason in (ExitReason.SHUTDOWN, ExitReason.NORMAL) else EXIT_ESCALATED
