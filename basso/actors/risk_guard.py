"""RiskGuard: the last word before an order — the kill switch, re-read from the facts at the moment of
decision, and an instrument whose held contract is past its expiry and not rolled (docs/rules.md §7: entries on
it are blocked until the position is rolled or closed). The rules' own gates (zones, drawdown, portfolio caps)
are already in the Sizer's decision; exits, stops and peel-offs are never blocked here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.enums import SignalOutcome
from basso.messages import Decided
from basso.store.reads import kill_switch_on
from basso.store.rolls import held_contracts
from basso.timeutil import exchange_date


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskGuardContext:
    """The pool (for the kill switch) and the next actor."""

    pool: asyncpg.Pool
    executor: ActorRef[Decided]
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # what "past expiry" is measured against


class RiskGuard(DatabaseActor[Decided]):
    """Blocks new entries while the kill switch is on; lets everything else through unchanged."""

    def __init__(self, context: RiskGuardContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: Decided) -> None:
        decision = message.decision
        if decision.entries and decision.outcome is SignalOutcome.EXECUTED:
            killed = await self.db.run(kill_switch_on, what="risk guard")
            if killed:
                blocked = replace(
                    decision,
                    outcome=SignalOutcome.BLOCKED,
                    reason="kill switch is on",
                    record=decision.record | {"blocked_by": "the kill switch"},
                    entries=(),
                )
                message = replace(message, decision=blocked)
            elif (expired := await self._expired(decision.entries[0].instrument)) is not None:
                blocked = replace(
                    decision,
                    outcome=SignalOutcome.BLOCKED,
                    reason=expired,
                    record=decision.record | {"blocked_by": "an expired contract"},
                    entries=(),
                )
                message = replace(message, decision=blocked)
        await self.send(self.context.executor, message)

    async def _expired(self, instrument: str) -> str | None:
        held = await self.db.run(held_contracts, what="risk guard: contracts")
        today = exchange_date(self.context.wall_clock())
        for layer in held:
            if layer.instrument == instrument and layer.expiry is not None and today > layer.expiry:
                return (
                    f"{instrument} {layer.contract} expired on {layer.expiry.isoformat()} and is not "
                    "rolled: roll or close it first"
                )
        return None
