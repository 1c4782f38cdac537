"""Deposits and withdrawals: signed ledger rows, written under the leader fence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from basso.enums import LedgerKind
from basso.rules.alert import Alert
from basso.rules.money import ledger_amount
from basso.store.drawdown import hold_version, move_peaks, raise_alerts
from basso.store.fence import fenced
from basso.store.types import Connection

# Every write that changes what a book is built from moves the facts' version on (sql/002), so a decision made
# against the book before it cannot commit.
BOOK_CHANGED = "UPDATE controls SET book_version = book_version + 1 WHERE id = 1"


@dataclass(frozen=True, slots=True, kw_only=True)
class PeakMove:
    """How a capital flow moves the drawdown peak (every day's peak × factor + add), computed from the book at
    `version`, and the alerts it raises (a band left)."""

    factor: float
    add: float
    version: int
    alerts: tuple[Alert, ...] = ()


async def move_capital(
    conn: Connection,
    *,
    epoch: int,
    kind: LedgerKind,
    amount: Decimal,
    at: datetime,
    note: str,
    peak: PeakMove | None = None,
) -> Decimal:
    """Book a deposit or withdrawal (`amount` as a magnitude > 0); return the closed equity after it.

    With `peak`, the drawdown peak moves with the capital in the same transaction (docs/rules.md §2), provided the
    facts are still at the version it was computed from (BookMoved otherwise, nothing written).
    """
    if kind not in (LedgerKind.DEPOSIT, LedgerKind.WITHDRAWAL):
        raise ValueError(f"capital moves are deposits or withdrawals, not {kind.value}")
    if amount <= 0:
        raise ValueError(f"amount must be greater than 0, got {amount}")
    async with fenced(conn, epoch):
        closed: Decimal = await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger")
        signed = ledger_amount(kind, amount)
        if closed + signed < 0:
            raise ValueError(f"withdrawal of {amount} exceeds closed equity {closed}")
        if peak is not None:
            await hold_version(conn, peak.version)
            await move_peaks(conn, factor=peak.factor, add=peak.add)
            await raise_alerts(conn, peak.alerts, at=at)
        await conn.execute(
            "INSERT INTO ledger (at, kind, amount, note) VALUES ($1, $2, $3, $4)", at, kind.value, signed, note
        )
        await conn.execute(BOOK_CHANGED)
        return closed + signed


async def deposit_if_empty(conn: Connection, *, epoch: int, amount: Decimal, at: datetime) -> bool:
    """The first start's capital: deposit `amount` if the ledger has no row yet. True if it did."""
    async with fenced(conn, epoch):
        if await conn.fetchval("SELECT exists(SELECT 1 FROM ledger)"):
            return False
        await conn.execute(
            "INSERT INTO ledger (at, kind, amount, note) VALUES ($1, $2, $3, 'initial capital')",
            at,
            LedgerKind.DEPOSIT.value,
            ledger_amount(LedgerKind.DEPOSIT, amount),
        )
        await conn.execute(BOOK_CHANGED)
        return True


async def ledger_has_rows(conn: Connection) -> bool:
    """Whether the database already holds capital moves (False for a database not yet migrated)."""
    if not await conn.fetchval("SELECT to_regclass('ledger') IS NOT NULL"):
        return False
    return bool(await conn.fetchval("SELECT exists(SELECT 1 FROM ledger)"))
