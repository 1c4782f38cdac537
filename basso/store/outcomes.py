"""Processing's write path: take the oldest pending signal, and commit its whole outcome in one fenced
transaction — position rows, ledger rows, order rows, marks, stops and the signal's outcome and decision.

The commit is one call of the SQL function `basso_commit_outcome` (sql/002): one round trip, one
transaction. It checks the leader fence under a share lock, then updates the signal's row only while it is
still `pending`: a signal whose outcome is already committed can never be applied twice, and a crash before
the commit leaves it pending to be processed again from scratch (the paper broker is deterministic, so the
retry is identical).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from basso.enums import OrderSide
from basso.rules.contracts import Contract
from basso.rules.money import to_decimal, to_money
from basso.rules.settlement import Settlement, stored_price
from basso.store.fence import FenceLost
from basso.store.types import Connection, Executor


class AlreadyProcessed(Exception):
    """The signal's outcome was committed before (by this or another instance): nothing was written."""


class StaleBook(Exception):
    """The decision was made against a book older than the facts: nothing was written; decide it again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingSignal:
    """A stored signal waiting for its outcome."""

    id: int
    key: str
    payload: dict[str, Any]


async def next_pending(conn: Executor, after: int = 0) -> PendingSignal | None:
    """The oldest pending signal with an id above `after`, if any."""
    found = await pending_signals(conn, after=after, limit=1)
    return found[0] if found else None


async def pending_signals(conn: Executor, *, after: int = 0, limit: int) -> list[PendingSignal]:
    """Up to `limit` pending signals with ids above `after`, oldest first, except that a pending roll step
    (sql/009) comes before every other pending signal of its instrument: a roll under way is never interleaved
    with a signal for the same instrument, and other instruments' signals keep their place."""
    rows = await conn.fetch(
        "SELECT s.id, s.key, s.payload FROM signals s WHERE s.outcome = 'pending' AND s.id > $1"
        " ORDER BY coalesce((SELECT min(r.id) FROM signals r WHERE r.outcome = 'pending' AND r.kind = 'ROLL'"
        " AND r.instrument = s.instrument), s.id), s.kind <> 'ROLL', s.id LIMIT $2",
        after,
        limit,
    )
    return [PendingSignal(id=r["id"], key=r["key"], payload=orjson.loads(r["payload"])) for r in rows]


def _price(value: float) -> str:
    """A price, stop or ATR as the exact decimal the database stores."""
    return str(to_decimal(stored_price(value)))


def _changes(settlement: Settlement, contracts: Mapping[str, Contract]) -> dict[str, Any]:
    """Everything the settlement writes besides the signal's own row, as the JSON the SQL function reads;
    `contracts` names the contract each instrument's new layers went into."""
    decision = settlement.decision
    closings = iter(settlement.closings)
    fills: list[dict[str, Any]] = []
    for fill in settlement.fills:
        row: dict[str, Any] = {
            "instrument": fill.instrument,
            "layer": fill.layer,
            "lots": fill.lots,
            "price": _price(fill.price),
            "commission": str(fill.commission),
            "opening": fill.opening,
            "side": (OrderSide.BUY if fill.opening else OrderSide.SELL).value,
        }
        if fill.opening:
            entry = next(e for e in decision.entries if (e.instrument, e.layer) == (fill.instrument, fill.layer))
            row |= {
                "stop": _price(entry.stop),
                "atr": _price(entry.atr),
                "point_value": str(entry.point_value),
                "margin_per_lot": str(entry.margin_per_lot),
            }
            contract = contracts.get(fill.instrument)
            if contract is not None:
                row |= {"contract": contract.future_symbol, "expiry": contract.expiry.isoformat()}
        else:
            closing = next(closings)
            row |= {"whole": closing.whole, "reason": closing.reason, "pnl": str(closing.realised_pnl)}
        fills.append(row)
    mark = None
    if decision.mark is not None:
        found = decision.mark
        mark = {
            "instrument": found.instrument,
            "price": _price(found.price),
            "atr": _price(found.atr),
            "at": found.at.isoformat(),
            "bar": found.bar,
        }
    day, peak = settlement.book.peak_to_store
    return {
        "stop_moves": [
            {"instrument": m.instrument, "layer": m.layer, "stop": _price(m.stop), "highest": _price(m.highest_close)}
            for m in decision.stop_moves
        ],
        "fills": fills,
        "ledger": [
            {
                "kind": e.kind.value,
                "amount": str(e.amount),
                "instrument": e.instrument,
                "layer": e.layer,
                "note": e.note,
            }
            for e in settlement.ledger
        ],
        "mark": mark,
        "alerts": [
            {
                "level": a.level.value,
                "kind": a.kind,
                "instrument": a.instrument,
                "message": a.message,
                "detail": a.detail,
            }
            for a in settlement.alerts
        ],
        # Always sent: the day's peak a book starts from at load (its equity then) must reach the database too,
        # or a restart would forget the drawdown since. The SQL keeps the greater of the two.
        "day": day.isoformat() if day is not None else None,  # none: the day it is committed on
        "day_peak": str(to_money(round(peak, 2))),
    }


async def commit_outcome(
    conn: Connection,
    *,
    epoch: int,
    signal: PendingSignal,
    settlement: Settlement,
    at: datetime,
    contracts: Mapping[str, Contract] | None = None,
) -> None:
    """Write `settlement` as the outcome of `signal` in one fenced transaction (sql/004: one round trip), new
    layers recorded in the contract `contracts` names for their instrument (none recorded without it).

    FenceLost if a newer leader holds the fence; AlreadyProcessed if the signal has an outcome; StaleBook if
    the facts have changed since the book the decision was made against. In each case nothing was written.
    """
    decision = settlement.decision
    result: str = await conn.fetchval(
        "SELECT basso_commit_outcome($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb)",
        epoch,
        settlement.book.version,
        signal.id,
        signal.key,
        decision.outcome.value,
        decision.reason,
        orjson.dumps(decision.record).decode(),
        at,
        orjson.dumps(_changes(settlement, contracts or {})).decode(),
    )
    if result == "processed":
        raise AlreadyProcessed(f"signal {signal.id} already has an outcome")
    if result.startswith("stale "):
        raise StaleBook(
            f"signal {signal.id} was decided against book version {settlement.book.version - 1}, "
            f"the facts are at version {result.split()[1]}"
        )
    if result.startswith("fence "):
        raise FenceLost(epoch, int(result.split()[1]))
    if result != "ok":
        raise RuntimeError(f"basso_commit_outcome answered {result!r}")
