"""The actor: a bounded mailbox, lifecycle hooks, a ready handshake, a heartbeat and a statistics snapshot.

An actor is a subclass of `Actor` that overrides `handle` (and, if it needs them, `on_start` / `on_stop`).
The runtime around it is an `ActorCell`, owned by a supervisor slot: the cell keeps the mailbox and the
counters across restarts, and runs one *incarnation* (a fresh actor from the factory) at a time.

Lifecycle of one incarnation (the supervisor drives the arrows on the left)::

    cell.start() ──► factory() ──► on_start() ──► ready (start() returns)
                                                     │
            ┌────────────────────────────────────────┘
            ▼
       ┌─► gate closed? ──yes──► park until it opens ───────────────────────┐
       │        │ no                                                        │
       │        ▼                                                           │
       │   head of mailbox (wait while empty; the message stays put)        │
       │        ▼                                                           │
       │   handle(message)      sends are staged, not delivered yet         │
       │        ▼                                                           │
       │   commit: wait for room downstream, then in ONE step               │
       │           put every staged message + ack the head                  │
       └────────┴───────────────────────────────────────────────────────────┘
    stop requested / self.stop() ──► on_stop() ──► task ends (SHUTDOWN / NORMAL)
    exception in handle()        ──► head stays, crashes += 1 (3rd: dead letter, ack) ──► on_stop() ──► CRASHED
    task cancelled from outside  ──► head stays ──► on_stop() ──► KILLED
    gate closed during handle    ──► handle cancelled (not a crash), staged sends dropped, head stays ──► park

The exactly-once hand-off (peek-process-ack with an atomic commit). A message leaves a mailbox only in the
commit step, and the commit step puts the handler's outputs into the next mailboxes *and* acks the input
with no await in between, so the event loop cannot interleave anything (a crash, a cancellation) inside
it. Hence:

* crash or kill before the commit: nothing was forwarded, the input is still at the head, the next
  incarnation handles it again and forwards its outputs once: **not lost, not duplicated**;
* crash or kill after the commit: the input is gone, the outputs were forwarded exactly once.

Waiting for room downstream happens *before* the commit step (and is interruptible: nothing has been
forwarded yet). A handler's own side effects outside the runtime (a database write) are not covered by this
and must be idempotent or transactional with the message id — the store's inbox and fence do that.
Kills (cancellation from outside) do not count against a message; only exceptions raised by `handle` do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from basso.actors.clock import Clock
from basso.actors.deadletter import DeadLetter, DeadLetterSink
from basso.actors.events import ExitReason
from basso.actors.gate import PauseGate
from basso.actors.mailbox import Mailbox

__all__ = [
    "DEFAULT_CAPACITY",
    "Actor",
    "ActorCell",
    "ActorRef",
    "ActorState",
    "ActorStatistics",
    "ChildStartFailed",
]

logger = logging.getLogger("basso.actors")

M = TypeVar("M")
T = TypeVar("T")

DEFAULT_CAPACITY = 1024
# After this many messages handled without suspending, the actor yields once so that a busy actor cannot
# starve the rest of the event loop (HTTP, the lease renewal).
_FAIR_STREAK = 256


def no_fault(_path: str) -> None:
    """The production fault injector: does nothing (chaos tests pass one that raises)."""


class ChildStartFailed(Exception):
    """A child ended before it reported ready."""

    def __init__(self, path: str, reason: ExitReason, error: BaseException | None) -> None:
        detail = f": {type(error).__name__}: {error}" if error is not None else ""
        super().__init__(f"{path} failed to start ({reason}){detail}")
        self.path = path
        self.reason = reason
        self.error = error


class ActorState(StrEnum):
    """Where an actor's loop is."""

    STOPPED = "stopped"  # no incarnation running (not started, stopped, or between a crash and a restart)
    STARTING = "starting"  # factory and on_start running
    IDLE = "idle"  # waiting for a message
    BUSY = "busy"  # inside handle()
    SENDING = "sending"  # waiting for room downstream before the commit step
    PAUSED = "paused"  # parked at a closed gate
    STOPPING = "stopping"  # on_stop running


# States in which stopping may cancel the task at once: nothing has been done that would be lost.
_INTERRUPTIBLE = frozenset({ActorState.STARTING, ActorState.IDLE, ActorState.SENDING, ActorState.PAUSED})


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorStatistics:
    """A snapshot of one actor, cumulative over its restarts."""

    path: str
    state: str
    queue_depth: int
    capacity: int
    waiting_senders: int
    handled: int
    failed: int
    restarts: int
    dead_lettered: int
    pauses: int
    last_error: str | None
    last_heartbeat: float | None

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as a plain mapping (what /metrics reads)."""
        return asdict(self)


class ActorRef(Generic[M]):
    """The address of an actor: its name and its mailbox, which outlive every restart of the actor."""

    __slots__ = ("mailbox", "name")

    def __init__(self, name: str, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.name = name
        self.mailbox: Mailbox[M] = Mailbox(name, capacity)

    def __repr__(self) -> str:
        return f"<ActorRef {self.name} {len(self.mailbox)}/{self.mailbox.capacity}>"

    async def tell(self, message: M) -> None:
        """Deliver `message`, waiting while the mailbox is full. Once this returns, the runtime owns it."""
        await self.mailbox.put(message)

    def tell_nowait(self, message: M) -> None:
        """Deliver `message` now, or raise `MailboxFull`."""
        self.mailbox.put_nowait(message)


class Actor(Generic[M]):
    """Base class of every actor: override `handle`, and `on_start` / `on_stop` if needed.

    A fresh instance is made by the child spec's factory for each incarnation, so instance state does not
    survive a crash: whatever must survive lives in PostgreSQL (or arrives again as messages).
    """

    _cell: ActorCell[M]

    async def on_start(self) -> None:
        """Prepare the actor; the supervisor's `start` returns only after this has returned."""

    async def handle(self, message: M) -> None:
        """Handle one message. Raising crashes the actor; the message is handled again after the restart."""
        raise NotImplementedError(f"{type(self).__name__} must override handle()")

    async def on_stop(self) -> None:
        """Release what on_start took; runs after a stop, a crash or a kill."""

    async def send(self, to: ActorRef[T], message: T) -> None:
        """Send `message` to `to`.

        Inside `handle` the message is staged and delivered when `handle` returns, in the same step as the
        acknowledgement of the message being handled (the exactly-once hand-off). Anywhere else it is put
        into `to`'s mailbox at once, waiting while that mailbox is full.
        """
        cell = self._cell
        if cell.state is ActorState.BUSY and asyncio.current_task() is cell.task:
            cell.stage(to.mailbox, message)
        else:
            await to.mailbox.put(message)

    def stop(self) -> None:
        """Finish after the current message (a normal exit: a transient child is then not restarted)."""
        self._cell.request_exit()

    @property
    def name(self) -> str:
        """The actor's path in the supervision tree."""
        return self._cell.path

    @property
    def ref(self) -> ActorRef[M]:
        """This actor's own address."""
        return self._cell.ref

    @property
    def attempt(self) -> int:
        """1 on the first delivery of the current message, 2 and 3 when it is redelivered after crashes."""
        return self._cell.ref.mailbox.head_crashes + 1

    def statistics(self) -> ActorStatistics:
        """A snapshot of this actor (counters include earlier incarnations)."""
        return self._cell.statistics()


class ActorCell(Generic[M]):
    """Runs the incarnations of one actor; owns its counters. Created and driven by a supervisor."""

    def __init__(
        self,
        *,
        path: str,
        factory: Callable[[], Actor[M]],
        ref: ActorRef[M],
        clock: Clock,
        dead_letters: DeadLetterSink,
        poison_after: int,
        gate: PauseGate | None = None,
        fault: Callable[[str], None] = no_fault,
    ) -> None:
        self.path = path
        self.ref = ref
        self.state = ActorState.STOPPED
        self.task: asyncio.Task[None] | None = None
        self.handled = 0
        self.failed = 0
        self.restarts = 0
        self.dead_lettered = 0
        self.pauses = 0
        self.last_error: str | None = None
        self.last_heartbeat: float | None = None
        self._factory = factory
        self._clock = clock
        self._dead_letters = dead_letters
        self._poison_after = poison_after
        self._gate = gate
        self._fault = fault
        self._staged: list[tuple[Mailbox[Any], Any]] = []
        self._stop_requested = False
        self._exit_requested = False
        self._pause_pending = False
        self._handled_at_beat = -1
        self._busy_at_beat = False
        if gate is not None:
            gate.register(self)

    def __repr__(self) -> str:
        return f"<ActorCell {self.path} {self.state}>"

    # --- driven by the supervisor -------------------------------------------------------------------

    async def start(self) -> None:
        """Start a new incarnation and return once it is ready; `ChildStartFailed` if it ends first."""
        if self.task is not None and not self.task.done():
            raise RuntimeError(f"{self.path} is already running")
        self._stop_requested = self._exit_requested = self._pause_pending = False
        self._staged.clear()
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        task = loop.create_task(self._run(ready), name=self.path)
        self.task = task
        try:
            await asyncio.wait((ready, task), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()  # a start interrupted (its supervisor stopping) leaves no incarnation behind
            raise
        if not ready.done():
            reason, error = self.exit_reason(task)
            raise ChildStartFailed(self.path, reason, error)

    async def stop(self, deadline_s: float) -> None:
        """Stop after the current message; cancel the incarnation if it has not ended within `deadline_s`."""
        self.request_stop()
        task = self.task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait((task,), timeout=deadline_s)
        if done:
            return
        logger.warning("%s did not stop within %.3f s; cancelling it", self.path, deadline_s)
        task.cancel()
        done, _ = await asyncio.wait((task,), timeout=deadline_s)
        if not done:
            logger.error("%s ignored its cancellation for %.3f s; abandoning it", self.path, deadline_s)

    def request_stop(self) -> None:
        """Ask the incarnation to stop after its current message; at once if it is only waiting."""
        task = self.task
        if task is None or task.done():
            return
        self._stop_requested = True
        if self.state in _INTERRUPTIBLE:
            task.cancel()

    def kill(self) -> None:
        """Cancel the running incarnation now, as a crash would end it (its message is kept)."""
        if self.task is not None:
            self.task.cancel()

    def exit_reason(self, task: asyncio.Task[None]) -> tuple[ExitReason, BaseException | None]:
        """Why `task` (an incarnation of this cell) ended, and the exception if it crashed."""
        if task.cancelled():
            return (ExitReason.SHUTDOWN if self._stop_requested else ExitReason.KILLED), None
        error = task.exception()
        if error is not None:
            return ExitReason.CRASHED, error
        return (ExitReason.SHUTDOWN if self._stop_requested else ExitReason.NORMAL), None

    def note_restart(self) -> None:
        """Count a restart (the supervisor calls this as it starts a new incarnation after an exit)."""
        self.restarts += 1

    def heartbeat(self) -> None:
        """Record a heartbeat unless the actor has been inside the same message since the previous one."""
        if self.task is None or self.task.done():
            return
        # Stuck means: busy now, busy at the previous beat, and not one message finished in between.
        busy = self.state in (ActorState.BUSY, ActorState.SENDING)
        stuck = busy and self._busy_at_beat and self.handled == self._handled_at_beat
        self._handled_at_beat = self.handled
        self._busy_at_beat = busy
        if not stuck:
            self.last_heartbeat = self._clock.monotonic()

    def statistics(self) -> ActorStatistics:
        """A snapshot for /metrics and /health."""
        box = self.ref.mailbox
        return ActorStatistics(
            path=self.path,
            state=self.state.value,
            queue_depth=len(box),
            capacity=box.capacity,
            waiting_senders=box.waiting_senders,
            handled=self.handled,
            failed=self.failed,
            restarts=self.restarts,
            dead_lettered=self.dead_lettered,
            pauses=self.pauses,
            last_error=self.last_error,
            last_heartbeat=self.last_heartbeat,
        )

    # --- the pause gate's view (see basso.actors.gate.Pausable) ---------------------------------------

    def pause_work(self) -> None:
        """The gate closed: cancel the message in progress at its next await point (not a crash)."""
        task = self.task
        if (
            self.state in (ActorState.BUSY, ActorState.SENDING)
            and task is not None
            and not task.done()
            and not self._pause_pending
        ):
            self._pause_pending = True
            task.cancel()

    def is_paused(self) -> bool:
        """True when this actor has no work in progress."""
        state = self.state
        return (
            state is ActorState.PAUSED
            or state is ActorState.STOPPED
            or (state is ActorState.IDLE and not self.ref.mailbox)
        )

    # --- used by Actor ------------------------------------------------------------------------------

    def stage(self, target: Mailbox[Any], message: object) -> None:
        """Hold `message` for `target` until the current handler returns."""
        if target is self.ref.mailbox:
            raise ValueError(f"{self.path} cannot send to itself from handle()")
        staged = self._staged
        if len(staged) >= target.capacity and sum(1 for box, _ in staged if box is target) >= target.capacity:
            raise ValueError(
                f"{self.path}: more messages for {target.name} in one handle() than it holds ({target.capacity})"
            )
        staged.append((target, message))

    def request_exit(self) -> None:
        """Leave the loop after the current message (a normal exit)."""
        self._exit_requested = True

    # --- one incarnation ----------------------------------------------------------------------------

    async def _run(self, ready: asyncio.Future[None]) -> None:
        self.state = ActorState.STARTING
        actor: Actor[M] | None = None
        try:
            actor = self._factory()
            actor._cell = self
            await actor.on_start()
            self.last_heartbeat = self._clock.monotonic()
            ready.set_result(None)
            await self._serve(actor)
        except Exception as exc:  # CancelledError is not an Exception: it always propagates
            await self._record_crash(exc)
            raise
        finally:
            await self._finish(actor)

    async def _serve(self, actor: Actor[M]) -> None:
        box = self.ref.mailbox
        gate = self._gate
        streak = 0
        while not (self._stop_requested or self._exit_requested):
            try:
                if gate is not None and not gate.is_open:
                    self.state = ActorState.PAUSED
                    gate.note_settled()
                    await gate.wait_open()
                    continue
                if not box:
                    streak = 0
                    self.state = ActorState.IDLE
                    if gate is not None:
                        gate.note_settled()
                    await box.wait_nonempty()
                    continue
                self.state = ActorState.BUSY
                box.in_hand = True
                try:
                    self._fault(self.path)
                    await actor.handle(box.head())
                    if self._pause_pending and self._paused_by_gate():
                        continue  # the handler swallowed the gate's cancellation: still, nothing passes
                    if not await self._commit(box):
                        return
                finally:
                    box.in_hand = False
                streak += 1
                if streak >= _FAIR_STREAK:
                    streak = 0
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                if not self._paused_by_gate():
                    raise

    def _paused_by_gate(self) -> bool:
        """True if the cancellation just caught is the gate's own pause (then, and only then, it ends here)."""
        if not self._pause_pending:
            return False
        self._pause_pending = False
        task = self.task
        if task is None or task.uncancel() > 0:
            return False  # someone else cancelled us as well: that one must propagate
        self._staged.clear()
        self.pauses += 1
        return True

    async def _commit(self, box: Mailbox[M]) -> bool:
        """Forward the staged messages and ack the head in one step; False if stopped while waiting."""
        staged = self._staged
        if staged:
            self.state = ActorState.SENDING
            while (lacking := self._lacking_room()) is not None:
                if self._stop_requested:
                    return False
                await lacking.wait_room()
            # From here to the ack there is no await: the loop cannot run anything in between.
            for target, message in staged:
                target.put_nowait(message)
            staged.clear()
        box.ack()
        self.handled += 1
        return True

    def _lacking_room(self) -> Mailbox[Any] | None:
        staged = self._staged
        if len(staged) == 1:
            target = staged[0][0]
            return target if target.full() else None
        needed: dict[int, int] = {}
        for target, _ in staged:
            needed[id(target)] = needed.get(id(target), 0) + 1
            if len(target) + needed[id(target)] > target.capacity:
                return target
        return None

    async def _record_crash(self, exc: Exception) -> None:
        self.failed += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        in_flight = self.state is ActorState.BUSY
        logger.error("%s crashed%s", self.path, " handling a message" if in_flight else "", exc_info=exc)
        box = self.ref.mailbox
        if not in_flight or not box:
            return
        box.head_crashes += 1
        if box.head_crashes >= self._poison_after:
            await self._dead_letter(box, exc)

    async def _dead_letter(self, box: Mailbox[M], exc: Exception) -> None:
        letter = DeadLetter(
            actor=self.path,
            message=box.head(),
            error_type=type(exc).__name__,
            error=str(exc),
            crashes=box.head_crashes,
            at=self._clock.monotonic(),
        )
        try:
            await self._dead_letters(letter)
        except Exception as sink_error:
            # Keep the message: it is offered to the sink again after its next crash.
            logger.error("%s: the dead-letter sink failed; the message stays queued", self.path, exc_info=sink_error)
            return
        box.ack()
        self.dead_lettered += 1

    async def _finish(self, actor: Actor[M] | None) -> None:
        self.state = ActorState.STOPPING
        try:
            if actor is not None:
                await actor.on_stop()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.error("%s failed in on_stop", self.path, exc_info=exc)
        finally:
            self._staged.clear()
            self.state = ActorState.STOPPED
            if self._gate is not None:
                self._gate.note_settled()
