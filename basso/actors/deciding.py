"""Deciding a batch: a stored signal and those handed out with it, each against the book the one before leaves.

The Sizer (entries, pyramids, exits) and the StopTrailer (bar closes) decide this way. A batch gives the same
decisions as the signals handed out one at a time would: the book each is decided against is the one the
SignalReceiver would hold after the one before committed (working orders counted at their intended lots and
stop). The only thing that ends a batch early is a broker that fills at once: then a decision that places an
order must see its fills before the next one is decided, as the backtest does.
"""

from __future__ import annotations

from basso.config import Config
from basso.enums import SignalOutcome
from basso.messages import Decide, Decided
from basso.rules.decisions import decide_payload
from basso.rules.orders import work

__all__ = ["decide_in_turn"]


def decide_in_turn(message: Decide, config: Config) -> Decided:
    """The decision of `message.pending` and, for a batch (`then`), of each next signal against the book the one
    before leaves, until one places an order while `message.stop_at_orders` (its fills come first) or the batch
    ends. The signals not decided stay pending for the SignalReceiver's next hand-out."""
    pending, book = message.pending, message.book
    decision = decide_payload(pending.payload, book, config)
    earlier: list[Decided] = []
    for following in message.then:
        places = decision.outcome is SignalOutcome.EXECUTED and bool(decision.exits or decision.entries)
        if places and message.stop_at_orders:
            break
        working = work(decision, book, config, key=pending.key, signal=pending.id)
        earlier.append(Decided.following(message, pending=pending, decision=decision, book=book, working=working))
        book = working.book
        pending = following
        decision = decide_payload(pending.payload, book, config)
    return Decided.following(message, pending=pending, decision=decision, book=book, earlier=tuple(earlier))
