"""Processing's write path: take the oldest pending signal, and commit its decision in one fenced transaction —
the signal's outcome and numbers, stop moves, the mark, its layers `opening` / `closing` and their orders
`pending` (step one of "Orders, in two steps"; the fills are basso/store/orders.py).

The commit is one call of the SQL function `basso_commit_decision` (sql/010): one round trip, one transaction; a
batch of decisions is one call of `basso_commit_decisions` (sql/015), which commits them all or none.
It checks the leader fence under a share lock, then updates the signal's row only while it is still `pending`:
a signal whose outcome is already committed can never be applied twice, and a crash before the commit leaves it
pending to be decided again from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from basso.rules.alert import Alert
from basso.rules.contracts import Contract
from basso.rules.money import to_decimal, to_money
from basso.rules.orders import Working
from basso.rules.settlement import stored_price
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
    with a signal for the same instrument, and other instruments' signals keep their place. While a roll's orders
    are working at a real broker (sql/014), its instrument's signals wait: none is handed out until they are done."""
    rows = await conn.fetch(
        "SELECT s.id, s.key, s.payload FROM signals s WHERE s.outcome = 'pending' AND s.id > $1"
        " AND NOT EXISTS (SELECT FROM orders o JOIN rolls r ON r.id = o.roll WHERE r.instrument = s.instrument"
        " AND o.status IN ('pending', 'sent', 'partial', 'unknown'))"
        " ORDER BY coalesce((SELECT min(r.id) FROM signals r WHERE r.outcome = 'pending' AND r.kind = 'ROLL'"
        " AND r.instrument = s.instrument), s.id), s.kind <> 'ROLL', s.id LIMIT $2",
        after,
        limit,
    )
    return [PendingSignal(id=r["id"], key=r["key"], payload=orjson.loads(r["payload"])) for r in rows]


def _price(value: float) -> str:
    """A price, stop or ATR as the exact decimal the database stores."""
    return str(to_decimal(stored_price(value)))


def _changes(working: Working, contracts: Mapping[str, Contract]) -> dict[str, Any]:
    """Everything the decision writes besides the signal's own row, as the JSON the SQL function reads;
    `contracts` names the contract each instrument's new layers go into."""
    decision = working.decision
    orders: list[dict[str, Any]] = []
    for ticket in working.tickets:
        row: dict[str, Any] = {
            "client_id": ticket.client_id,
            "instrument": ticket.instrument,
            "layer": ticket.layer,
            "lots": ticket.lots,
            "price": _price(ticket.price),
            "opening": ticket.opening,
            "side": ticket.side.value,
        }
        if ticket.opening:
            row |= {
                "stop": _price(ticket.stop),
                "atr": _price(ticket.atr),
                "point_value": str(ticket.point_value),
                "margin_per_lot": str(ticket.margin_per_lot),
            }
            contract = contracts.get(ticket.instrument)
            if contract is not None:
                row |= {"contract": contract.future_symbol, "expiry": contract.expiry.isoformat()}
        else:
            row |= {"whole": ticket.whole, "reason": ticket.reason}
        orders.append(row)
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
    day, peak = working.book.peak_to_store
    return {
        "stop_moves": [
            {"instrument": m.instrument, "layer": m.layer, "stop": _price(m.stop), "highest": _price(m.highest_close)}
            for m in decision.stop_moves
        ],
        "orders": orders,
        "mark": mark,
        "alerts": [alert_json(a) for a in working.alerts],
        # Always sent: the day's peak a book starts from at load (its equity then) must reach the database too,
        # or a restart would forget the drawdown since. The SQL keeps the greater of the two.
        "day": day.isoformat() if day is not None else None,  # none: the day it is committed on
        "day_peak": str(to_money(round(peak, 2))),
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as the commit functions' JSON carries it."""
    return {
        "level": alert.level.value,
        "kind": alert.kind,
        "instrument": alert.instrument,
        "message": alert.message,
        "detail": alert.detail,
    }


async def commit_decision(
    conn: Connection,
    *,
    epoch: int,
    signal: PendingSignal,
    working: Working,
    at: datetime,
    broker: str,
    contracts: Mapping[str, Contract] | None = None,
) -> None:
    """Write `working` as the outcome of `signal` in one fenced transaction (sql/010: one round trip): the signal's
    outcome, stop moves, mark and alerts, its new layers `opening`, its exited ones `closing` and their orders
    `pending` at `broker`; new layers recorded in the contract `contracts` names for their instrument.

    FenceLost if a newer leader holds the fence; AlreadyProcessed if the signal has an outcome; StaleBook if
    the facts have changed since the book the decision was made against. In each case nothing was written.
    """
    decision = working.decision
    result: str = await conn.fetchval(
        "SELECT basso_commit_decision($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::jsonb)",
        epoch,
        working.book.version,
        signal.id,
        decision.outcome.value,
        decision.reason,
        orjson.dumps(decision.record).decode(),
        at,
        broker,
        orjson.dumps(_changes(working, contracts or {})).decode(),
    )
    _raise_unless_committed(result, epoch=epoch, signal=signal, working=working)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One signal of a batch to commit: its decision worked out (`working`) and the contract each instrument's new
    layers go into."""

    signal: PendingSignal
    working: Working
    contracts: Mapping[str, Contract]


async def commit_decisions(conn: Connection, *, epoch: int, steps: Sequence[Step], at: datetime, broker: str) -> None:
    """Write a batch of decisions, each as `commit_decision` would, all in one fenced transaction and one round trip
    (sql/015), or none of them: FenceLost, AlreadyProcessed or StaleBook as `commit_decision`, for the first step
    that could not be written."""
    if len(steps) == 1:  # one call of the one-signal function: no subtransaction to pay for
        step = steps[0]
        await commit_decision(
            conn, epoch=epoch, signal=step.signal, working=step.working, at=at, broker=broker, contracts=step.contracts
        )
        return
    batch = [
        {
            "version": step.working.book.version,
            "signal": step.signal.id,
            "outcome": step.working.decision.outcome.value,
            "reason": step.working.decision.reason,
            "decision": step.working.decision.record,
            "changes": _changes(step.working, step.contracts),
        }
        for step in steps
    ]
    result: str = await conn.fetchval(
        "SELECT basso_commit_decisions($1, $2, $3, $4::jsonb)", epoch, at, broker, orjson.dumps(batch).decode()
    )
    if result != "ok":
        n, status = result.split(" ", 1)
        failed = steps[int(n)]
        _raise_unless_committed(status, epoch=epoch, signal=failed.signal, working=failed.working)


def _raise_unless_committed(result: str, *, epoch: int, signal: PendingSignal, working: Working) -> None:
    """The exception for what the commit functions answer when they did not write `signal`'s outcome."""
    if result == "ok":
        return
    if result == "processed":
        raise AlreadyProcessed(f"signal {signal.id} already has an outcome")
    if result.startswith("stale "):
        raise StaleBook(
            f"signal {signal.id} was decided against book version {working.book.version - 1}, "
            f"the facts are at version {result.split()[1]}"
        )
    if result.startswith("fence "):
        raise FenceLost(epoch, int(result.split()[1]))
    raise RuntimeError(f"the commit of signal {signal.id} answered {result!r}")
