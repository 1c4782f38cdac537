"""Processing one stored signal: the pure steps the pipeline actors run (decide in the Sizer, execute in
the executor), shared with the tests and the backtest so there is one chain, not several."""

from __future__ import annotations

from basso.book import Book, Fill
from basso.config import Config
from basso.decisions import Decision, decide
from basso.enums import SignalOutcome
from basso.paper import paper_fills
from basso.signals import SignalError, signal_from_object
from basso.store.outcomes import PendingSignal


def decide_stored(pending: PendingSignal, book: Book, config: Config) -> Decision:
    """The decision for a stored signal; a payload the current configuration refuses is rejected, not crashed."""
    try:
        signal = signal_from_object(pending.payload, config)
    except SignalError as exc:
        return Decision(outcome=SignalOutcome.REJECTED, reason=f"invalid under the current configuration: {exc}")
    return decide(signal, book, config)


def execute_paper(decision: Decision, config: Config) -> list[Fill]:
    """The paper broker's fills for an executed decision (none for any other outcome)."""
    return paper_fills(decision, config) if decision.outcome is SignalOutcome.EXECUTED else []
