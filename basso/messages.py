"""Messages between actors: frozen, slotted, keyword-only values that say who caused them and under which leader.

Every message carries

* `id`: unique in the process and, through a random process prefix, across restarts and hosts, so that a
  dead letter or a log line names exactly one message;
* `at`: a monotonic timestamp taken when the message was made (latency, queue age; never wall time);
* `cause_id`: the row id of the stored signal that set the chain off (the SignalReceiver's `Decide` starts it, every
  message `following` it carries it on), so every decision, intent and fill can be traced back to the webhook
  that caused it; None on messages no signal caused (a `Poll`, a `Tick`, a `Recover`);
* `epoch`: the leader epoch current when the message was made; a message from an older epoch must not
  cause a side effect (the fence refuses it anyway, this lets actors drop it early).

Concrete message types subclass `Message` with their own `@dataclass(frozen=True, slots=True, kw_only=True)`;
keyword-only fields let a subclass add required fields after the base's defaulted ones. Each actor's mailbox
takes only its own messages (`ActorRef[Decided]` for the RiskGuard, `ActorRef[ReceiverInbox]` for the
SignalReceiver), so the type checker refuses a message sent to the wrong actor.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self, TypeAlias

if TYPE_CHECKING:
    from datetime import datetime

    from basso.rules.alert import Alert
    from basso.rules.book import Book, Fill
    from basso.rules.decisions import Decision
    from basso.rules.orders import OrderTicket, Working
    from basso.store.outcomes import PendingSignal

__all__ = [
    "CheckBarGaps",
    "Committed",
    "Decide",
    "Decided",
    "ExecutorInbox",
    "Filled",
    "Message",
    "PersisterInbox",
    "Place",
    "Poll",
    "Rebuild",
    "ReceiverInbox",
    "Recover",
    "RollSettled",
    "RolloverInbox",
    "Scan",
    "Settled",
    "StopTrailerInbox",
    "Sweep",
    "new_message_id",
]

# A random prefix per process plus a counter: unique without uuid4's cost on the hot path.
_PROCESS_PREFIX = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


def new_message_id() -> str:
    """A fresh message id: `<process prefix>-<sequence>`."""
    return f"{_PROCESS_PREFIX}-{next(_SEQUENCE)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """The base of every message: an id, a monotonic timestamp, the causing signal's row and the leader epoch."""

    id: str = field(default_factory=new_message_id)
    at: float = field(default_factory=time.monotonic)
    cause_id: int | None = None  # the signals row at the root of this message's chain
    epoch: int = 0

    @classmethod
    def following(cls, cause: Message, **fields: Any) -> Self:
        """A new message of this type caused by `cause`: same signal chain, same leader epoch."""
        return cls(cause_id=cause.cause_id, epoch=cause.epoch, **fields)


# --- the signal pipeline: SignalReceiver → (Sizer | StopTrailer | RolloverScanner) → RiskGuard → Persister
# (decision and orders committed) → Executor → Persister (fills), and back to the SignalReceiver ----------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Poll(Message):
    """A signal was stored (or work may be waiting): the SignalReceiver looks for the oldest pending signal."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decide(Message):
    """The SignalReceiver hands one stored signal to the stage that decides it, with the book to decide it
    against (which includes every earlier signal's outcome)."""

    pending: PendingSignal
    book: Book
    # Signals stored right after `pending` that the same stage decides (bar closes; entries, pyramids and exits), to
    # decide in the same breath, each against the book the one before leaves: a batch the stage decides and the
    # Persister commits in one transaction (basso/actors/deciding.py).
    then: tuple[PendingSignal, ...] = ()
    # The broker fills at once (paper): a decision that places an order ends the batch, its fills come first.
    stop_at_orders: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckBarGaps(Message):
    """The StopTrailer looks for instruments with open layers and no bar close for too long, as of `now`."""

    now: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided(Message):
    """A stage's decision (the Sizer's, the StopTrailer's or the RolloverScanner's) for one stored signal, made
    against `book` (which includes every earlier one)."""

    pending: PendingSignal
    decision: Decision
    book: Book
    # The decisions of a batch before this one, in order: committed with it.
    earlier: tuple[Decided, ...] = ()
    # What the decision commits, when the stage has already worked it out (each of a batch's earlier bars').
    working: Working | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Place(Message):
    """Committed orders for the Executor to send: those of the signal stored in row `signal_row`, as `working`
    says (None: read the signal's working orders from the facts, after a redelivery; `pending` is None then too)."""

    signal_row: int
    pending: PendingSignal | None
    working: Working | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Filled(Message):
    """The paper broker's complete fills of a signal's orders, for the Persister to record one by one; `working`
    is the commit that counted them working (None: the SignalReceiver rebuilds its book from the facts)."""

    signal_row: int
    pending: PendingSignal | None
    working: Working | None
    fills: tuple[tuple[OrderTicket, Fill], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep(Message):
    """The Executor takes up every working order in the facts (after a restart, a recovery or a dead letter)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled(Message):
    """A signal's outcome is committed and, with a broker that fills at once, its fills too: what observers
    (metrics, the log, tests) hear. `book` is the book after it."""

    pending: PendingSignal
    decision: Decision
    book: Book


@dataclass(frozen=True, slots=True, kw_only=True)
class Committed(Message):
    """The Persister committed (or found already committed) the outcome of the signal stored in row
    `signal_row`; `book` is the book after it, or None when the SignalReceiver must rebuild it from the facts."""

    signal_row: int
    book: Book | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan(Message):
    """The RolloverScanner looks for positions inside their roll window as of `now` (the hourly timer, the API,
    `basso roll`) and starts their rolls."""

    now: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RollSettled(Message):
    """One roll step's fills and changes (sql/009's JSON), ready for the Persister's one fenced transaction;
    `book` is the book after it. Through a real broker, `working` are the orders it commits `pending` for the
    order desk (sql/014), and `alerts` what it raises (a failed roll)."""

    pending: PendingSignal
    reason: str
    record: dict[str, Any]
    changes: dict[str, Any]
    book: Book
    working: tuple[dict[str, Any], ...] = ()
    alerts: tuple[Alert, ...] = ()


# --- leadership: LeaderElector → Recovery → SignalReceiver ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Recover(Message):
    """This instance has just taken the fence at `epoch`: rebuild from the facts, then open the gate."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rebuild(Message):
    """Another instance may have changed the facts: the SignalReceiver forgets its book and what it read ahead."""


# What each actor takes: the SignalReceiver's inbox has three kinds; the Sizer takes `Decide`, the StopTrailer
# `Decide` and `CheckBarGaps`; the RiskGuard takes `Decided`; the Persister commits decisions, records fills and
# roll steps; the Executor places committed orders and sweeps the working ones; Recovery takes `Recover`.
ReceiverInbox: TypeAlias = Poll | Committed | Rebuild
StopTrailerInbox: TypeAlias = Decide | CheckBarGaps
RolloverInbox: TypeAlias = Decide | Scan
PersisterInbox: TypeAlias = Decided | Filled | RollSettled
ExecutorInbox: TypeAlias = Place | Sweep
