"""The live signal pipeline as a supervision tree.

    root (rest_for_one)
    ├── persister                      every outcome write, fenced by the epoch
    └── trading (one_for_one, gated)
        ├── receiver      the order: the oldest pending signal, one in flight, to the stage that decides it
        ├── sizer         entries, pyramids, exits → decision
        ├── stop_trailer  bar closes → stop moves, exits, peel-offs, emergency exits; bar-gap alerts
        ├── rollover      scans → rolls started (roll step signals); roll steps → legs, shifted layers, costs
        ├── risk_guard    decision → approved decision (kill switch, expired contract, unknown order, reconciliation)
        │                 → persister (layers and orders committed)
        └── executor      committed orders → the broker → fills → persister → back to the receiver

With a real broker (`broker_client`, OpenAlgo) the executor hands orders to the order desk, which works each at
the broker and records every step; the SignalReceiver does not wait for their fills. With one, Recovery ends
with a reconciliation of the broker's position book, repeated every `[broker] reconcile_every_s`.

A Persister crash restarts the trading actors after it (their books may be stale); a crash of one trading
actor touches nothing else. A webhook stored here wakes the SignalReceiver at once (`wake`); with
`Runtime.sweep_every_s` a sweep also wakes it that often (`Runtime.sleep` is the sweep's timer). One stored by
another instance wakes it through PostgreSQL's LISTEN/NOTIFY; the sweep covers a notification missed while the
connection was down. With `Runtime.bar_gap_every_s` the StopTrailer looks for bar gaps that often, and with
`Runtime.roll_scan_every_s` the RolloverScanner scans for positions to roll (the wall clock says when; `scan()`
asks for one now). If another instance takes the fence, the Persister's next commit finds out and the gate
closes: this pipeline stops trading and writes nothing more (`fence_lost`). A message that crashes its actor
three times is a dead letter: its signal is marked `dead` in PostgreSQL with the error, and the
SignalReceiver moves on to the next signal.

Given a `Leadership` (a Redis lease), the pipeline elects its leader (docs/architecture.md "Leadership timing"
and "Recovery")::

    root (rest_for_one)
    ├── persister
    ├── elector      the lease and the fence: leadership gained → Recovery; lost → the gate closes
    ├── recovery     rebuild from the facts (and the first deposit), then the gate opens
    └── trading      as above

Without one it is a solo leader at `epoch`, and whoever built it opens the gate (`open()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import asyncpg

from basso.actors.base import ActorRef, no_fault
from basso.actors.clock import Clock, SystemClock
from basso.actors.deadletter import DeadLetter
from basso.actors.elector import ElectorContext, LeaderElector, LeaseStatus, step_down
from basso.actors.events import Observer
from basso.actors.executor import Executor, ExecutorContext
from basso.actors.gate import PauseGate
from basso.actors.order_desk import DeskContext, OrderDesk
from basso.actors.persister import Persister, PersisterContext
from basso.actors.receiver import ReceiverContext, SignalReceiver, Stages
from basso.actors.recovery import Recovery, RecoveryContext
from basso.actors.risk_guard import RiskGuard, RiskGuardContext
from basso.actors.rollover import Quote, RolloverContext, RolloverScanner, paper_quote
from basso.actors.sizer import Sizer, SizerContext
from basso.actors.stop_trailer import StopTrailer, StopTrailerContext
from basso.actors.turn import BookTurn
from basso.brokers.openalgo import BrokerError, OpenAlgoClient
from basso.config import Config, Instrument
from basso.messages import (
    CheckBarGaps,
    Committed,
    Decide,
    Decided,
    ExecutorInbox,
    Filled,
    PersisterInbox,
    Place,
    Poll,
    ReceiverInbox,
    Recover,
    RolloverInbox,
    RollSettled,
    Scan,
    Settled,
    StopTrailerInbox,
    Sweep,
)
from basso.store.deadletters import bury_signal
from basso.store.fence import FenceLost
from basso.store.inbox import listen_for_signals
from basso.store.lease import RedisLease
from basso.store.outcomes import next_pending
from basso.store.retry import until_available
from basso.supervisor import Backoff, ChildSpec, RestartIntensity, Supervisor

log = logging.getLogger(__name__)


def _ignore(_value: object) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Leadership:
    """Elect the leader through this Redis lease; without one the pipeline is a solo leader at its epoch."""

    lease: RedisLease
    status: LeaseStatus  # read by /leader, /health/live and /metrics
    capital: Decimal | None = None  # Recovery deposits it when the ledger is empty (None: nothing)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """What the pipeline tells whoever runs it (metrics, tests)."""

    on_commit: Callable[[Settled], None] = _ignore  # an outcome committed
    on_roll_step: Callable[[RollSettled], None] = _ignore  # a roll step committed
    on_leadership: Callable[[int | None], None] = _ignore  # the epoch gained, or None when lost
    on_renewed: Callable[[float], None] = _ignore  # a lease renewal's round trip, in seconds
    on_recovered: Callable[[int], None] = _ignore  # Recovery rebuilt the book for this epoch; the gate opens next
    observer: Observer | None = None  # every supervision event


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """The runtime's clocks, sweep and restart policy: tests shorten them, and chaos tests inject faults."""

    clock: Clock = field(default_factory=SystemClock)  # heartbeats, backoff, restart intensity
    intensity: RestartIntensity | None = None
    backoff: Backoff | None = None
    sweep_every_s: float | None = None  # look for pending signals at least this often (None: only when woken)
    bar_gap_every_s: float | None = None  # look for bar gaps this often (None: never)
    roll_scan_every_s: float | None = None  # scan for positions to roll this often (None: only when asked)
    roll_quote: Quote = paper_quote  # the next contract's price when a roll starts (the paper broker's by default)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the sweep's and the bar-gap watch's timer
    order_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the order desk's waits on a working order
    # Called before a trading actor or the Persister handles a message (each one's ChildSpec.fault): chaos tests
    # raise there. Production never sets it.
    fault: Callable[[str], None] = no_fault


class Pipeline:
    """Builds, starts and stops the pipeline's supervision tree; `wake()` after a signal is stored."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        config: Config,
        wall_clock: Callable[[], datetime],
        epoch: int = 0,
        leadership: Leadership | None = None,
        hooks: Hooks = Hooks(),
        runtime: Runtime = Runtime(),
        broker_client: OpenAlgoClient | None = None,
    ) -> None:
        self.pool = pool
        broker = "paper" if broker_client is None else "openalgo"  # where orders go
        self.epoch = epoch  # the fence epoch this instance trades at (changes with each leadership gain)
        self.gate = PauseGate(leader=leadership is None, recovered=False)
        self.clock = runtime.clock
        self.receiver: ActorRef[ReceiverInbox] = ActorRef("receiver")
        sizer: ActorRef[Decide] = ActorRef("sizer")
        self.stop_trailer: ActorRef[StopTrailerInbox] = ActorRef("stop_trailer")
        self.rollover: ActorRef[RolloverInbox] = ActorRef("rollover")
        risk_guard: ActorRef[Decided] = ActorRef("risk_guard")
        executor: ActorRef[ExecutorInbox] = ActorRef("executor")
        persister: ActorRef[PersisterInbox] = ActorRef("persister")
        turn = BookTurn()  # the receiver's decisions and the order desk's records take turns
        receiver_context = ReceiverContext(
            pool=pool,
            config=config,
            epoch=self._current_epoch,
            stages=Stages(sizer=sizer, stop_trailer=self.stop_trailer, rollover=self.rollover),
            turn=turn,
            fills_at_once=broker_client is None,
        )
        sizer_context = SizerContext(config=config, risk_guard=risk_guard)
        trailer_context = StopTrailerContext(pool=pool, config=config, risk_guard=risk_guard)
        last_price = None
        if broker_client is not None:
            client = broker_client

            async def last_price(instrument: Instrument, symbol: str) -> float | None:
                try:
                    return float((await client.quote(symbol, instrument.exchange)).ltp)
                except BrokerError as failed:
                    log.warning("no quote for %s (%s): the roll is priced from the old contract's mark", symbol, failed)
                    return None

        rollover_context = RolloverContext(
            pool=pool,
            config=config,
            persister=persister,
            epoch=self._current_epoch,
            quote=runtime.roll_quote,
            wake=self.wake,
            broker=broker,
            last_price=last_price,
        )
        self._roll_scan_every_s = runtime.roll_scan_every_s
        self._roll_scanner: asyncio.Task[None] | None = None
        self._wall_clock = wall_clock
        self._bar_gap_every_s = runtime.bar_gap_every_s
        self._bar_gap_watch: asyncio.Task[None] | None = None
        guard_context = RiskGuardContext(
            pool=pool, persister=persister, wall_clock=wall_clock, unknown_checks=config.broker.unknown_checks
        )
        # With a real broker (`broker_client`, OpenAlgo) orders take their time and go through the order desk; the
        # SignalReceiver does not wait for their fills. The paper broker fills at once.
        self.desk: OrderDesk | None = None
        if broker_client is not None:
            receiver = self.receiver

            async def book_changed() -> None:
                # Counted by the turn: the receiver reads the facts again before its next signal (a Poll wakes it).
                await receiver.tell(Poll(epoch=self.epoch))

            self.desk = OrderDesk(
                DeskContext(
                    pool=pool,
                    config=config,
                    client=broker_client,
                    epoch=self._current_epoch,
                    wall_clock=wall_clock,
                    on_book_changed=book_changed,
                    turn=turn,
                    on_fence_lost=self._lose_fence,
                    sleep=runtime.order_sleep,
                )
            )
        executor_context = ExecutorContext(pool=pool, config=config, persister=persister, desk=self.desk)
        self._executor = executor
        self._reconciler: asyncio.Task[None] | None = None
        self._reconcile_every_s = config.broker.reconcile_every_s
        self._background: set[asyncio.Task[None]] = set()  # reconcile-then-open, desk closes: kept until done
        self.fence_lost = asyncio.Event()
        self.halted = asyncio.Event()
        self.halt_reason: str | None = None
        self._on_leadership = hooks.on_leadership
        self._on_recovered = hooks.on_recovered
        self._sweep_every_s = runtime.sweep_every_s
        self._sleep = runtime.sleep
        self._sweeper: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listened = asyncio.Event()  # set each time a connection starts to LISTEN for stored signals
        # Ready (/health/ready) once the gate first opens, or once the elector finds another instance leading: a
        # follower stores webhooks as it is. It stays set through later terms, which store webhooks meanwhile.
        self.ready = False
        persister_context = PersisterContext(
            pool=pool,
            config=config,
            epoch=self._current_epoch,
            wall_clock=wall_clock,
            receiver=self.receiver,
            executor=executor,
            on_commit=hooks.on_commit,
            on_roll_step=hooks.on_roll_step,
            on_fence_lost=self._lose_fence,
            broker=broker,
            fills_at_once=broker_client is None,
        )
        gate, fault = self.gate, runtime.fault
        trading = Supervisor(
            name="trading",
            strategy="one_for_one",
            intensity=runtime.intensity,
            backoff=runtime.backoff,
            children=[
                ChildSpec(
                    name="receiver",
                    factory=lambda: SignalReceiver(receiver_context),
                    ref=self.receiver,
                    gate=gate,
                    fault=fault,
                ),
                ChildSpec(name="sizer", factory=lambda: Sizer(sizer_context), ref=sizer, gate=gate, fault=fault),
                ChildSpec(
                    name="stop_trailer",
                    factory=lambda: StopTrailer(trailer_context),
                    ref=self.stop_trailer,
                    gate=gate,
                    fault=fault,
                ),
                ChildSpec(
                    name="rollover",
                    factory=lambda: RolloverScanner(rollover_context),
                    ref=self.rollover,
                    gate=gate,
                    fault=fault,
                ),
                ChildSpec(
                    name="risk_guard", factory=lambda: RiskGuard(guard_context), ref=risk_guard, gate=gate, fault=fault
                ),
                ChildSpec(
                    name="executor", factory=lambda: Executor(executor_context), ref=executor, gate=gate, fault=fault
                ),
            ],
        )
        children: list[ChildSpec[Any]] = [
            ChildSpec(
                name="persister", factory=lambda: Persister(persister_context), ref=persister, gate=gate, fault=fault
            )
        ]
        self.elector: ElectorContext | None = None
        if leadership is not None:
            recovery: ActorRef[Recover] = ActorRef("recovery")
            self._recovery = recovery
            self.elector = ElectorContext(
                lease=leadership.lease,
                pool=pool,
                status=leadership.status,
                clock=self.clock,
                on_gained=self._gain,
                on_lost=self._lose,
                on_renewed=hooks.on_renewed,
                on_following=self._follow,
            )
            elector, recovery_context = (
                self.elector,
                RecoveryContext(
                    pool=pool,
                    config=config,
                    receiver=self.receiver,
                    epoch=self._current_epoch,
                    capital=leadership.capital,
                    wall_clock=wall_clock,
                    on_recovered=self._recovered,
                    halt=self._halt,
                ),
            )
            children += [
                ChildSpec(name="elector", factory=lambda: LeaderElector(elector), ref=ActorRef("elector")),
                ChildSpec(name="recovery", factory=lambda: Recovery(recovery_context), ref=recovery),
            ]
        self.root = Supervisor(
            name="basso",
            strategy="rest_for_one",
            clock=self.clock,
            dead_letters=self._bury,
            observer=hooks.observer,
            intensity=runtime.intensity,
            backoff=runtime.backoff,
            children=[*children, trading.as_child()],
        )

    def _current_epoch(self) -> int:
        return self.epoch

    async def start(self) -> None:
        """Start every actor; processing begins once the gate opens (`open()`)."""
        await self.root.start()
        self._listener = asyncio.create_task(self._listen(), name="signal listener")
        if self._sweep_every_s is not None:
            self._sweeper = asyncio.create_task(self._sweep(self._sweep_every_s), name="pending sweep")
        if self._bar_gap_every_s is not None:
            self._bar_gap_watch = asyncio.create_task(self._watch_bar_gaps(self._bar_gap_every_s), name="bar-gap watch")
        if self._roll_scan_every_s is not None:
            self._roll_scanner = asyncio.create_task(self._scan_for_rolls(self._roll_scan_every_s), name="roll scans")
        if self.desk is not None:
            self._reconciler = asyncio.create_task(
                self._reconcile_every(self._reconcile_every_s), name="reconciliation"
            )

    async def _listen(self) -> None:
        # Hear every pending signal stored, by any instance; listen again whenever the connection drops (a
        # PostgreSQL restart). A notification missed meanwhile is found by the sweep.
        try:
            await self._listen_until_cancelled()
        except Exception:  # not a crash of the pipeline: the sweep still finds every stored signal
            log.exception("the signal listener stopped; stored signals are found by the sweep alone")

    async def _listen_until_cancelled(self) -> None:
        while True:
            lost = asyncio.Event()
            stop = await until_available(
                partial(listen_for_signals, self.pool, self.wake, on_lost=lost.set), what="signal listener"
            )
            self.listened.set()
            try:
                await lost.wait()
                log.warning("the signal listener's connection dropped; listening again")
            finally:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await stop()
            self.wake()  # whatever was stored while nobody listened

    async def _sweep(self, every_s: float) -> None:
        # Stored signals wake the SignalReceiver at once (`wake`, and the listener for other instances'); this
        # sweep finds whatever a missed notification or an outage left pending. Its query for pending signals is
        # cheap.
        while True:
            await self._sleep(every_s)
            self.wake()

    async def _watch_bar_gaps(self, every_s: float) -> None:
        while True:
            await self._sleep(every_s)
            if self.stop_trailer.mailbox.unhandled == 0:  # one check waiting is enough
                self.stop_trailer.tell_nowait(CheckBarGaps(now=self._wall_clock(), epoch=self.epoch))

    async def _scan_for_rolls(self, every_s: float) -> None:
        # The scanner itself skips instruments whose market is closed (docs/rules.md §7: hourly during market hours).
        while True:
            await self._sleep(every_s)
            self.scan()

    def scan(self) -> None:
        """Ask the RolloverScanner to scan now (the timer, `POST /api/rollover`, `basso roll`)."""
        if self.rollover.mailbox.unhandled == 0:  # one scan waiting is enough
            self.rollover.tell_nowait(Scan(now=self._wall_clock(), epoch=self.epoch))

    def open(self) -> None:
        """Recovery is done: let the trading actors work."""
        self.gate.set_recovered(True)
        self.ready = self.ready or self.gate.is_open
        self.wake()

    def wake(self) -> None:
        """A signal was stored: nudge the SignalReceiver. One message it has not started on is enough (it looks
        when it handles it); the one it is handling is not, as its look may have been made before the signal was
        stored."""
        if self.receiver.mailbox.unhandled == 0:
            self.receiver.tell_nowait(Poll(epoch=self.epoch))

    async def stop(self) -> None:
        """Stop in reverse order; a signal in flight is finished or left pending, never half-written. Then give
        the lease up, so a standby takes over at its next attempt instead of waiting for the key to expire."""
        for timer in (self._sweeper, self._bar_gap_watch, self._roll_scanner, self._reconciler):
            if timer is not None:
                timer.cancel()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.root.stop()
        if self.desk is not None:
            await self.desk.close()  # orders stay as recorded: the next leader takes them up from the facts
        if self.elector is not None:
            await step_down(self.elector, "released", "graceful shutdown")

    async def _gain(self, epoch: int) -> None:
        """The elector took the fence at `epoch`: trade at it once Recovery has rebuilt the state."""
        self.epoch = epoch
        self.gate.set_recovered(False)
        self.gate.set_leader(True)
        self.fence_lost.clear()
        self._on_leadership(epoch)
        await self._recovery.tell(Recover(epoch=epoch))

    def _recovered(self, epoch: int) -> None:
        if epoch == self.epoch and self.gate.leader:
            self._on_recovered(epoch)
            # Orders left working by an earlier term (ours or another instance's) are taken up again: resolved at
            # the broker, never sent blindly a second time.
            self._executor.tell_nowait(Sweep(epoch=epoch))
            if self.desk is None:
                self.open()
            else:  # with a real broker, Recovery ends with a reconciliation
                self._in_background(self._reconcile_then_open(epoch), "reconcile, then open")

    def _in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reconcile_then_open(self, epoch: int) -> None:
        assert self.desk is not None
        try:
            await self.desk.reconcile()
        except FenceLost as lost:
            self._lose_fence(lost)
            return
        except Exception:  # a check that failed is no reason not to trade exits: its blocks are in the facts
            log.exception("reconciliation after recovery failed")
        if epoch == self.epoch and self.gate.leader:
            self.open()

    async def _reconcile_every(self, every_s: float) -> None:
        assert self.desk is not None
        while True:
            await self._sleep(every_s)
            if not self.gate.is_open:
                continue  # only the leader reconciles, and Recovery does it first
            try:
                await self.desk.reconcile()
            except FenceLost as lost:
                self._lose_fence(lost)
            except Exception:
                log.exception("reconciliation failed; the next one is in %g s", every_s)

    def _follow(self) -> None:
        self.ready = True

    def _lose(self, reason: str) -> None:
        """The elector is no longer sure it leads: stop trading now (in-flight work is cancelled, kept)."""
        self.gate.set_leader(False)
        if self.desk is not None:  # no more requests to the broker from here: the next leader resolves them
            self._in_background(self.desk.close(), "order desk close")
        self._on_leadership(None)

    def _halt(self, reason: str) -> None:
        """The process must not trade on (corrupt facts): stop trading and tell whoever runs the pipeline."""
        log.critical("halting: %s", reason)
        self.halt_reason = reason
        self.gate.set_leader(False)
        self.halted.set()

    def statistics(self) -> Mapping[str, Mapping[str, Any]]:
        """Every actor's and supervisor's snapshot, by path (for /metrics and /health/live)."""
        return self.root.actor_statistics()

    def _lose_fence(self, lost: FenceLost) -> None:
        """A newer epoch holds the fence: another instance leads. Stop trading here; nothing more is written."""
        if not self.fence_lost.is_set():
            # With an elector this instance should have lost its lease before anyone could take the fence; if it
            # still holds it, the other instance elects itself elsewhere.
            hint = (
                "; it still holds its lease: do two instances use different [leadership] key values on one database?"
                if self.elector is not None and self.elector.status.epoch is not None
                else ""
            )
            log.critical(
                "%s: another instance took over; this one stops trading (it still stores webhooks)%s", lost, hint
            )
        self.fence_lost.set()
        self.gate.set_leader(False)

    async def _bury(self, letter: DeadLetter) -> None:
        """The dead-letter sink: mark the poison message's signal dead, then let the SignalReceiver move on."""
        message = letter.message
        if isinstance(message, CheckBarGaps | Scan):  # no signal behind it: the next one is a fresh message
            log.error(
                "dead letter: %s crashed %s %d times: %s: %s",
                type(message).__name__,
                letter.actor,
                letter.crashes,
                letter.error_type,
                letter.error,
            )
            return
        if isinstance(message, Sweep):  # no signal of its own: the orders wait in the facts for the next sweep
            log.error(
                "dead letter: a sweep of working orders crashed %s %d times: %s: %s",
                letter.actor,
                letter.crashes,
                letter.error_type,
                letter.error,
            )
            return
        pending = getattr(message, "pending", None)
        if (isinstance(message, Decide) and message.then) or (isinstance(message, Decided) and message.earlier):
            # A batch: which signal is poison is not known. Nothing is buried; the SignalReceiver goes through the
            # batch one signal at a time, and the next dead letter is the poison alone.
            log.error(
                "dead letter: a batch of signals from signal %s crashed %s %d times (%s: %s); deciding them one at a "
                "time",
                message.pending.id,
                letter.actor,
                letter.crashes,
                letter.error_type,
                letter.error,
            )
            await self.receiver.tell(Committed(signal_row=message.pending.id, book=None, epoch=self.epoch))
            return
        if isinstance(message, Place | Filled):
            # Orders of a committed signal (a Place or its fills): the Executor takes them up from the facts.
            await self._executor.tell(Sweep(epoch=self.epoch))
            signal_row = message.signal_row
        elif pending is not None:
            signal_row = int(pending.id)
        else:
            # A Poll or Committed crashed the SignalReceiver while it handed out the oldest pending signal.
            found = await until_available(lambda: next_pending(self.pool), what="dead letters")
            if found is None:
                return
            signal_row = found.id
        error = f"{letter.error_type}: {letter.error}"
        log.error("dead letter: signal %s crashed %s %d times: %s", signal_row, letter.actor, letter.crashes, error)

        async def bury() -> None:
            async with self.pool.acquire() as conn:
                await bury_signal(
                    conn,
                    epoch=self.epoch,
                    signal_row=signal_row,
                    actor=letter.actor,
                    error=error,
                    attempts=letter.crashes,
                )

        try:
            await until_available(bury, what="dead letters")
        except FenceLost as lost:
            self._lose_fence(lost)  # the signal stays pending for the leader to decide
            return
        await self.receiver.tell(Committed(signal_row=signal_row, book=None, epoch=self.epoch))
