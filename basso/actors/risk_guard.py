"""RiskGuard: the last word before an order — the kill switch, re-read from the facts at the moment of
decision, an instrument whose held contract is past its expiry and not rolled (docs/rules.md §7: entries on it
are blocked until the position is rolled or closed), an order of the same instrument still `unknown` at the
broker after every check (a new entry could double a position the broker may already hold) and a
reconciliation break on it (docs/rules.md §8). The rules' own gates (zones, drawdown, portfolio caps)
are already in the Sizer's decision; exits, stops and peel-offs are never blocked here. What blocks is read once
per decision, or once per batch of them (basso/actors/deciding.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
from basso.store.rolls import HeldContract, held_contracts
from basso.store.types import Connection
from basso.timeutil import exchange_date


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskGuardContext:
    """The pool (for the kill switch) and the next actor, the Persister that commits the decision."""

    pool: asyncpg.Pool
    persister: ActorRef[PersisterInbox]
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # what "past expiry" is measured against
    unknown_checks: int = 3  # an order unknown after this many checks blocks entries on its instrument


@dataclass(frozen=True, slots=True, kw_only=True)
class Blocks:
    """What blocks new entries, as read at the moment of a decision: why an entry on an instrument must wait and
    what blocks it."""

    kill_switch: bool
    expired: dict[str, str]  # instrument → why its held contract blocks
    unknown: dict[str, str]  # instrument → the order still unknown at the broker
    breaks: dict[str, str]  # instrument (or "*": all) → the reconciliation break

    def of(self, instrument: str) -> tuple[str, str] | None:
        if self.kill_switch:
            return "kill switch is on", "the kill switch"
        if instrument in self.expired:
            return self.expired[instrument], "an expired contract"
        if instrument in self.unknown:
            return (
                f"order {self.unknown[instrument]} on {instrument} is in an unknown state at the broker; resolve "
                "it first",
                "an unknown order",
            )
        why = self.breaks.get(instrument) or self.breaks.get("*")
        return (why, "reconciliation") if why is not None else None


class RiskGuard(DatabaseActor[Decided]):
    """Blocks new entries while the kill switch is on, an order of theirs is unknown or the broker does not
    reconcile; lets everything else through unchanged."""

    def __init__(self, context: RiskGuardContext) -> None:
        super().__init__(context.pool)
        self.context = context

    async def handle(self, message: Decided) -> None:
        steps = (*message.earlier, message)
        blocks: Blocks | None = None  # read once for a whole batch, and only if it enters
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

    async def _blocks(self) -> Blocks:
        async def read(conn: Connection) -> Blocks:
            return Blocks(
                kill_switch=await kill_switch_on(conn),
                expired=self._expired(await held_contracts(conn)),
                unknown=await unresolved_instruments(conn, checks=self.context.unknown_checks),
                breaks=await blocked_instruments(conn),
            )

        return await self.db.run(read, what="risk guard")

    def _expired(self, held: Iterable[HeldContract]) -> dict[str, str]:
        today = exchange_date(self.context.wall_clock())
        expired: dict[str, str] = {}
        for layer in held:
            if layer.expiry is not None and today > layer.expiry:
                expired.setdefault(
                    layer.instrument,
                    f"{layer.instrument} {layer.contract} expired on {layer.expiry.isoformat()} and is not rolled: "
                    "roll or close it first",
                )
        return expired
