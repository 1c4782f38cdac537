"""What blocks new entries, read in one round trip at the moment of a decision (the RiskGuard's, once per decision
or batch): the kill switch, held contracts past their expiry and not rolled (docs/rules.md §7), orders still
`unknown` at the broker after every check, and the newest reconciliation's breaks (docs/rules.md §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from basso.store.reconciliation import breaks_of
from basso.store.types import Executor

__all__ = ["EntryBlocks", "entry_blocks"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryBlocks:
    """The facts that block entries, by instrument."""

    kill_switch: bool
    expired: dict[str, str]  # instrument → why its held contract blocks
    unknown: dict[str, str]  # instrument → its oldest order still unknown at the broker
    breaks: dict[str, str]  # instrument (or "*": every one) → the reconciliation break

    def of(self, instrument: str) -> tuple[str, str] | None:
        """Why an entry on `instrument` must wait, and what blocks it; None if nothing does."""
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


async def entry_blocks(db: Executor, *, checks: int, today: date) -> EntryBlocks:
    """The blocks as the facts are now: an order counts as unknown after `checks` resolution attempts, a contract
    as expired once `today` (the exchange's date) is past its expiry."""
    row = await db.fetchrow(
        "SELECT c.kill_switch,"
        " ARRAY(SELECT ROW(p.instrument, p.contract, p.expiry) FROM positions p"
        "  WHERE p.status <> 'closed' AND p.expiry < $2 ORDER BY p.instrument, p.layer) AS expired,"
        " ARRAY(SELECT DISTINCT ON (o.instrument) ROW(o.instrument, o.client_id) FROM orders o"
        "  WHERE o.status = 'unknown' AND o.checks >= $1 ORDER BY o.instrument, o.id) AS unknown,"
        " r.matched, r.breaks, r.error"
        " FROM controls c LEFT JOIN LATERAL"
        " (SELECT matched, breaks, error FROM reconciliations ORDER BY id DESC LIMIT 1) r ON true WHERE c.id = 1",
        checks,
        today,
    )
    assert row is not None, "controls has its one row from the first migration"
    expired: dict[str, str] = {}
    for instrument, contract, expiry in row["expired"]:
        expired.setdefault(
            instrument,
            f"{instrument} {contract} expired on {expiry.isoformat()} and is not rolled: roll or close it first",
        )
    return EntryBlocks(
        kill_switch=row["kill_switch"],
        expired=expired,
        unknown=dict(row["unknown"]),
        breaks=breaks_of(row["breaks"], row["error"]) if row["matched"] is False else {},
    )
