"""Every enumerated state the database stores, in one place.

The database does not repeat these lists in CHECK constraints: each enum has a lookup table that
`basso migrate` fills from here, and the columns reference it by foreign key. Adding a state is a code
change only; a row can never carry a state the code does not know.
"""

from __future__ import annotations

from enum import StrEnum


class SignalOutcome(StrEnum):
    """What became of a stored signal."""

    PENDING = "pending"  # stored, not yet processed
    EXECUTED = "executed"  # orders filled and the position changed
    BLOCKED = "blocked"  # the rules said no, or sizing gave 0 lots
    IGNORED = "ignored"  # nothing to do, e.g. an EXIT for a layer that is not open
    REJECTED = "rejected"  # invalid for the current state, or stale
    FAILED = "failed"  # the broker said no
    DEAD = "dead"  # crashed its processor three times; see dead_letters


class PositionStatus(StrEnum):
    """The life of one layer of one trade."""

    OPENING = "opening"  # entry order sent, no fill yet
    PARTIAL = "partial"  # some legs filled (a synthetic's first leg): never forgotten
    OPEN = "open"
    CLOSING = "closing"  # exit order sent, no fill yet
    CLOSED = "closed"


class LedgerKind(StrEnum):
    """Why an amount entered the ledger; the sign is in the amount."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    REALISED_PNL = "realised_pnl"
    COMMISSION = "commission"
    ROLL_COST = "roll_cost"


class OrderSide(StrEnum):
    """Direction of an order."""

    BUY = "BUY"
    SELL = "SELL"


class OrderStatus(StrEnum):
    """An outbox order's state at the broker, as far as we know it."""

    PENDING = "pending"  # committed, not yet sent
    SENT = "sent"  # at the broker (its order id recorded), working
    PARTIAL = "partial"  # part filled, the rest still working
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # timed out or crashed mid-send: resolved by asking the broker, never resent


class AlertLevel(StrEnum):
    """How urgent an alert is (docs/rules.md §10): `critical` needs the trader now."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RollState(StrEnum):
    """A roll's state machine (docs/rules.md §7): every transition is stored, with its reason, before it acts."""

    PENDING = "pending"  # in the roll window, waiting for market hours and for no working order on the instrument
    CLOSING_OLD = "closing_old"  # the old contract's legs are being closed (quantities read from the layer now)
    OPENING_NEW = "opening_new"  # the new contract's legs are being opened, sized to what actually closed
    DONE = "done"
    FAILED = "failed"  # the broker refused a leg: an alert with its reason


class NotificationState(StrEnum):
    """Where a notification stands in its outbox (sql/009): sent at most once."""

    PENDING = "pending"  # to send (again, after `next_attempt_at`)
    SENDING = "sending"  # claimed by the leader, being sent
    SENT = "sent"
    SKIPPED = "skipped"  # its event is off in the configuration
    UNKNOWN = "unknown"  # cut off mid-send (a crash): never sent again, in case it went out
    FAILED = "failed"  # the retries ran out


# Lookup table name → enum, in the order `basso migrate` syncs them.
DATABASE_ENUMS: dict[str, type[StrEnum]] = {
    "signal_outcomes": SignalOutcome,
    "position_statuses": PositionStatus,
    "ledger_kinds": LedgerKind,
    "order_sides": OrderSide,
    "order_statuses": OrderStatus,
    "alert_levels": AlertLevel,
    "notification_states": NotificationState,
    "roll_states": RollState,
}
