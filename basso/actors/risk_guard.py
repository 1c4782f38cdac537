"""RiskGuard: the last word before an order — the kill switch, re-read from the facts at the moment of
decision, an instrument whose held contract is past its expiry and not rolled (docs/rules.md §7: entries on it
are blocked until the position is rolled or closed), an order of the same instrument still `unknown` at the
broker after every check (a new entry could double a position the broker may already hold) and a
reconciliation break on it (docs/rules.md §8). The rules' own gates (zones, drawdown, portfolio caps)
are already in the Sizer's decision; exits, stops and peel-offs are never blocked here. What blocks is read once
per decision, or once per batch of them (basso/actors/deciding.py), in one round trip (basso/store/blocks.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from basso.actors.base import ActorRef
from basso.actors.database import DatabaseActor
from basso.enums import SignalOutcome
from basso.messages import Decided, PersisterInbox
from basso.store.blocks import EntryBlocks, entry_blocks
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
        steps = (*message.earlier, message)
        blocks: EntryBlocks | None = None  # read once for a whole batch, and only if it enters
        for n, step in enumerate(steps):
            decision = step.decision
            if not (decision.entries and decision.outcome is SignalOutcome.EXECUTED):
                continue
            blocks = blocks or await self._blocks()
            block = blocks.of(decision.entries[0].instrument)
            if block is None:
                continue
            reason, by = block
            blocked = replace(
                decision,
                outcome=SignalOutcome.BLOCKED,
                reason=reason,
                record=decision.record | {"blocked_by": by},
                entries=(),
            )
            # The batch ends here: the signals after it were decided against a book counting this entry working;
            # they stay pending and are decided again against the book without it.
            message = replace(step, decision=blocked, working=None, earlier=steps[:n])
            break
        await self.send(self.context.persister, message)

    async def _blocks(self) -> EntryBlocks:
        today = exchange_date(self.context.wall_clock())
        checks = self.context.unknown_checks
        return await self.db.run(lambda conn: entry_blocks(conn, checks=checks, today=today), what="risk guard")
