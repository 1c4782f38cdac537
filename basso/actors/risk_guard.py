"""RiskGuard: the last word before an order — the kill switch, re-read from the facts at the moment of
decision, an instrument whose held contract is past its expiry and not rolled (docs/rules.md §7: entries on it
are blocked until the position is rolled or closed), an order of the same instrument still `unknown` at the
broker after every check (a new entry could double a position the broker may already hold) and a
reconciliation break on it (docs/rules.md §8). The rules' own gates (zones, drawdown, portfolio caps)
are already in the Sizer's decision; exits, stops and peel-offs are never blocked here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.enums import SignalOutcome
from basso.messages import Decided, PersisterInbox
from basso.store.orders import unresolved_instruments
from basso.store.reads import kill_switch_on
from basso.store.reconciliation import blocked_instruments
from basso.store.rolls import held_contracts
from basso.timeutil import exchange_date


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskGuardContext:
    """The pool (for the kill switch) and the next actor, the Persister that commits the decision."""

    pool: asyncpg.Pool
    persister: ActorRef[PersisterInbox]
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # what "past expiry" is measured against
    unknown_checks: int = 3  # an order unknown after this many checks blocks entries on its instrument


class RiskGuard(DatabaseActor[Decided]):
    """Blocks new entries while the kill switch is on, an order of theirs is unknown or the broker does not
    reconcile; lets everything else through unchanged."""

    def __init__(self, context: RiskGuardContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: Decided) -> None:
        decision = message.decision
        if decision.entries and decision.outcome is SignalOutcome.EXECUTED:
            block = await self._block(decision.entries[0].instrument)
            if block is not None:
                reason, by = block
                blocked = replace(
                    decision,
                    outcome=SignalOutcome.BLOCKED,
                    reason=reason,
                    record=decision.record | {"blocked_by": by},
                    entries=(),
                )
                message = replace(message, decision=blocked)
        await self.send(self.context.persister, message)

    async def _block(self, instrument: str) -> tuple[str, str] | None:
        """Why an entry on `instrument` must wait, and what blocks it; None if nothing does."""
        if await self.db.run(kill_switch_on, what="risk guard"):
            return "kill switch is on", "the kill switch"
        expired = await self._expired(instrument)
        if expired is not None:
            return expired, "an expired contract"
        checks = self.context.unknown_checks
        unresolved = await self.db.run(lambda conn: unresolved_instruments(conn, checks=checks), what="risk guard")
        if instrument in unresolved:
            return (
                f"order {unresolved[instrument]} on {instrument} is in an unknown state at the broker; resolve "
                "it first",
                "an unknown order",
            )
        breaks = await self.db.run(blocked_instruments, what="risk guard")
        why = breaks.get(instrument) or breaks.get("*")
        return (why, "reconciliation") if why is not None else None

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
