"""What blocks new entries, read in one round trip (basso/store/blocks.py): each of the four facts on its own,
for the instrument it names and no other (real PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from basso.config import Config
from basso.enums import OrderStatus
from basso.store.blocks import entry_blocks
from basso.store.controls import set_kill_switch
from basso.store.orders import record_placement
from basso.store.reconciliation import record_reconciliation
from tests.store.test_outcomes import AT, an_entry_committed

TODAY = date(2026, 11, 25)


async def test_each_fact_blocks_entries_on_its_own_instrument_only(migrated_database: str, config: Config) -> None:
    conn = await asyncpg.connect(migrated_database)
    try:
        epoch, client = await an_entry_committed(conn, config, "solo", "openalgo")
        nothing = await entry_blocks(conn, checks=3, today=TODAY)
        assert nothing.of("BANK_NIFTY") is None
        assert nothing.of("GOLD_MINI") is None

        # The Bank Nifty layer's contract expired yesterday: a block from today, not on its expiry day.
        await conn.execute("UPDATE positions SET contract = 'BANKNIFTY24NOV26FUT', expiry = $1", TODAY - timedelta(1))
        blocks = await entry_blocks(conn, checks=3, today=TODAY)
        assert blocks.of("BANK_NIFTY") == (
            "BANK_NIFTY BANKNIFTY24NOV26FUT expired on 2026-11-24 and is not rolled: roll or close it first",
            "an expired contract",
        )
        assert blocks.of("GOLD_MINI") is None
        assert (await entry_blocks(conn, checks=3, today=TODAY - timedelta(1))).of("BANK_NIFTY") is None
        await conn.execute("UPDATE positions SET expiry = NULL")

        # Its order unknown at the broker: a block once the checks are spent (3), not before.
        for checks in (2, 1):
            await record_placement(
                conn,
                epoch=epoch,
                client_id=client,
                status=OrderStatus.UNKNOWN,
                broker_order_id=None,
                reason="HTTP 500",
                at=AT,
                checks=checks,
            )
            blocks = await entry_blocks(conn, checks=3, today=TODAY)
            spent = checks == 1  # 2 then 2 + 1 = 3 checks
            assert (blocks.of("BANK_NIFTY") is not None) is spent
        assert blocks.unknown == {"BANK_NIFTY": client}
        assert blocks.of("GOLD_MINI") is None
        await conn.execute("UPDATE orders SET status = 'filled'")

        # A reconciliation break on Gold Mini blocks Gold Mini; an unreadable position book blocks every one; the
        # next check that matches lifts both.
        breaks = [{"instrument": "GOLD_MINI", "symbol": "GOLDM", "kind": "missing", "expected": 10, "at_broker": 0}]
        await record_reconciliation(conn, epoch=epoch, at=AT, breaks=breaks, error="")
        blocks = await entry_blocks(conn, checks=3, today=TODAY)
        assert blocks.of("GOLD_MINI") == (
            "reconciliation break on GOLDM: missing (expected 10, at the broker 0)",
            "reconciliation",
        )
        assert blocks.of("BANK_NIFTY") is None
        await record_reconciliation(conn, epoch=epoch, at=AT, breaks=[], error="session expired")
        blocks = await entry_blocks(conn, checks=3, today=TODAY)
        why = "the broker's position book could not be read: session expired"
        assert blocks.of("BANK_NIFTY") == blocks.of("GOLD_MINI") == (why, "reconciliation")
        await record_reconciliation(conn, epoch=epoch, at=AT, breaks=[], error="")
        assert (await entry_blocks(conn, checks=3, today=TODAY)).of("GOLD_MINI") is None

        # The kill switch blocks every entry.
        await set_kill_switch(conn, on=True, actor="test", reason="enough")
        blocks = await entry_blocks(conn, checks=3, today=TODAY)
        assert blocks.of("BANK_NIFTY") == blocks.of("GOLD_MINI") == ("kill switch is on", "the kill switch")
    finally:
        await conn.close()
