"""The actor runtime every Basso actor inherits: mailboxes, lifecycle, pause gate, dead letters.

Actors live one per module next to this package's runtime modules; the supervision tree is
`basso.supervisor`, the message base class `basso.messages`.
"""

from basso.actors.base import (
    DEFAULT_CAPACITY,
    Actor,
    ActorCell,
    ActorRef,
    ActorState,
    ActorStatistics,
    ChildStartFailed,
)
from basso.actors.clock import Clock, FakeClock, SystemClock
from basso.actors.deadletter import DeadLetter, DeadLetterBox, DeadLetterSink
from basso.actors.events import (
    ChildExited,
    ChildRestarting,
    ChildStarted,
    Escalated,
    EventLog,
    ExitReason,
    Observer,
    SupervisorEvent,
)
from basso.actors.gate import GateStatistics, PauseGate
from basso.actors.mailbox import Mailbox, MailboxEmpty, MailboxFull

__all__ = [
    "DEFAULT_CAPACITY",
    "Actor",
    "ActorCell",
    "ActorRef",
    "ActorState",
    "ActorStatistics",
    "ChildExited",
    "ChildRestarting",
    "ChildStartFailed",
    "ChildStarted",
    "Clock",
    "DeadLetter",
    "DeadLetterBox",
    "DeadLetterSink",
    "Escalated",
    "EventLog",
    "ExitReason",
    "FakeClock",
    "GateStatistics",
    "Mailbox",
    "MailboxEmpty",
    "MailboxFull",
    "Observer",
    "PauseGate",
    "SupervisorEvent",
    "SystemClock",
]
