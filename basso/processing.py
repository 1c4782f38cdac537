"""Deciding a stored signal, as the Sizer does and the tests replay it: the payload read back under the
current configuration, then `basso.decisions.decide`."""

from __future__ import annotations

from basso.book import Book
from basso.config import Config
from basso.decisions import Decision, decide
from basso.enums import SignalOutcome
from basso.signals import SignalError, signal_from_object
from basso.store.outcomes import PendingSignal


def decide_stored(pending: PendingSignal, book: Book, config: Config) -> Decision:
    """The decision for a stored signal; a payload the current configuration refuses is rejected, not crashed."""
    try:
        signal = signal_from_object(pending.payload, config)
    except SignalError as exc:
        return Decision(outcome=SignalOutcome.REJECTED, reason=f"invalid under the current configuration: {exc}")
    return decide(signal, book, config)
