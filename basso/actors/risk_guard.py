"""RiskGuard: the last word before an order — the kill switch, re-read from the facts at the moment of
decision. The rules' own gates (zones, drawdown, portfolio caps) are already in the Sizer's decision;
exits, stops and peel-offs are never blocked here."""

from __future__ import annotations

from dataclasses import dataclass, replace

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.enums import SignalOutcome
from basso.messages import Decided
from basso.store.reads import kill_switch_on


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskGuardContext:
    """The pool (for the kill switch) and the next actor."""

    pool: asyncpg.Pool
    executor: ActorRef[Decided]


class RiskGuard(DatabaseActor[Decided]):
    """Blocks new entries while the kill switch is on; lets everything else through unchanged."""

    def __init__(self, context: RiskGuardContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: Decided) -> None:
        decision = message.decision
        if decision.entries and decision.outcome is SignalOutcome.EXECUTED:
            killed = await self.db.run(kill_switch_on,
                                       what="risk guard")
            if killed:
                blocked = replace(decision, outcome=SignalOutcome.BLOCKED, reason="kill switch is on",
                                  record=decision.record | {"blocked_by": "the kill switch"}, entries=())
                message = replace(message, decision=blocked)
        await self.send(self.context.executor, message)
