"""StopTrailer: bar closes trail every layer's stop, exit the layers hit, peel off and check the emergency limit
(docs/rules.md §6: the rules in basso/rules/stops.py through basso/rules/decisions.py, unchanged); and the
bar-gap alert (docs/rules.md §10: an instrument with open layers and no bar close for longer than
`bar_gap_alert_s` in market hours).

Bar closes come from the SignalReceiver with the book to trail against, one at a time or, when several are
pending in a row, as a batch decided one after the other against the book each leaves (basso/actors/deciding.py;
the Persister commits the batch in one transaction: one disk flush for many bars); the decision goes on through
the RiskGuard to the Persister like any other. The bar-gap watch is a `CheckBarGaps`
with the wall time, sent by the pipeline's timer (a test sends its own).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.actors.deciding import decide_in_turn
from basso.config import Config
from basso.enums import AlertLevel
from basso.messages import CheckBarGaps, Decide, Decided, StopTrailerInbox
from basso.rules.bargap import bar_gap_s
from basso.rules.calendars import calendar_for
from basso.store.alerts import raise_alert
from basso.store.bars import last_bars

__all__ = ["StopTrailer", "StopTrailerContext"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class StopTrailerContext:
    """The pool (the bar-gap watch), the configuration and the next actor."""

    pool: asyncpg.Pool
    config: Config
    risk_guard: ActorRef[Decided]


class StopTrailer(DatabaseActor[StopTrailerInbox]):
    """Decides bar closes against the book handed with them; raises bar-gap alerts."""

    def __init__(self, context: StopTrailerContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: StopTrailerInbox) -> None:
        match message:
            case Decide():
                await self.send(self.context.risk_guard, decide_in_turn(message, self.context.config))
            case CheckBarGaps():
                await self._check_bar_gaps(message)

    async def _check_bar_gaps(self, message: CheckBarGaps) -> None:
        config = self.context.config
        limit_s = config.server.bar_gap_alert_s
        for seen in await self.db.run(last_bars, what="stop trailer: last bars"):
            instrument = config.instruments.get(seen.instrument)
            if instrument is None:
                continue  # an instrument removed from the configuration: Recovery names it
            gap = bar_gap_s(
                instrument,
                calendar_for(config, instrument),
                now=message.now,
                last_bar_at=seen.last_bar_at,
                opened_at=seen.opened_at,
                limit_s=limit_s,
            )
            if gap is None:
                continue
            since = seen.last_bar_at.isoformat() if seen.last_bar_at is not None else "none"
            text = (
                f"{seen.instrument}: no bar close for {gap / 60:.0f} min during market hours with layers open"
                f" (limit {limit_s / 60:g} min): its stops are not being trailed"
            )
            # One alert per gap: the dedupe key names the last bar seen, so a later gap is a new alert.
            raised = await self.db.run(
                partial(
                    raise_alert,
                    at=message.now,
                    level=AlertLevel.WARNING,
                    kind="bar_gap",
                    message=text,
                    instrument=seen.instrument,
                    detail={"last_bar_at": since, "gap_s": round(gap)},
                    dedupe=f"bar_gap:{seen.instrument}:{since}",
                ),
                what="stop trailer: bar-gap alert",
            )
            if raised is not None:
                log.warning("%s", text)
