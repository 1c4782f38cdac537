"""The checker bench/chaos.py (and its shortened run in tests/process/test_chaos.py) runs over the database once
the chaos has stopped and every stored signal is processed. Each check counts violations; zero is a pass.

* `lost`: an acknowledged signal that is not stored.
* `without_outcome`: an acknowledged signal still pending (or dead-lettered) once the backlog is done.
* `duplicate_keys`, `duplicate_client_ids`: an idempotency key stored twice; an order client id twice (the
  second wherever an `orders` table with `client_id` exists).
* `stale_epoch_commits`: a transaction that committed under an epoch older than the newest epoch taken before
  it committed. Every table with an `epoch` column (signal outcomes, orders, fills, reconciliations, ...) is
  read; a transaction's epoch is the newest on the rows it wrote last (a fill of an order written under an
  older epoch keeps the order's epoch but carries its own on its fills row). "Before" is PostgreSQL's own
  commit timestamp (`track_commit_timestamp = on`) of the transaction and of the fence take's
  `leadership_history` row, so it depends neither on any instance's clock nor on when a transaction began.
  `unchecked_commits` counts transactions whose commit time is unknown: they prove nothing, so they fail too.
* `ledger_unfenced`: a ledger row of a signal committed by a transaction that wrote no epoch (the fence check
  covers the money only through the epoch its transaction recorded).
* `replay`: positions, ledger, outcomes and orders equal a replay of the processed signals through the pure
  rules (tests/replay.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import asyncpg

from basso.config import Config
from basso.embedded import EmbeddedPostgres
from tests.replay import assert_state_equals_replay

# The fence's own tables: their epoch is the fence, not a write under it.
FENCE_TABLES = ("leader_fence", "leadership_history")

# Each fenced transaction with the newest epoch on the rows it wrote, and when it committed ({written}: one SELECT
# per table with an epoch column, UNION ALL).
_TRANSACTIONS = """
WITH written AS ({written}),
transactions AS (SELECT tx, min(at) AS at, max(epoch) AS epoch FROM written GROUP BY tx)
"""
_STALE = (
    _TRANSACTIONS
    + """, taken AS (
    SELECT epoch, pg_xact_commit_timestamp(xmin) AS at FROM leadership_history WHERE event = 'gained'
), judged AS (
    SELECT epoch, at, (SELECT max(taken.epoch) FROM taken WHERE taken.at < transactions.at) AS newest
    FROM transactions
)
SELECT count(*) FILTER (WHERE newest > epoch) AS stale, count(*) FILTER (WHERE at IS NULL) AS unchecked FROM judged
"""
)
_LEDGER_UNFENCED = (
    _TRANSACTIONS
    + """SELECT count(*) FROM ledger
WHERE ledger.signal IS NOT NULL AND ledger.xmin::text NOT IN (SELECT tx FROM transactions)
"""
)
_ROWS = "SELECT xmin::text AS tx, pg_xact_commit_timestamp(xmin) AS at, epoch FROM {table} WHERE epoch IS NOT NULL"


async def start_with_commit_times(postgres: EmbeddedPostgres) -> str:
    """Start `postgres` recording each transaction's commit time (a setting read at server start: set, then the
    server restarted); its URL."""
    url = await asyncio.to_thread(postgres.start)
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        await admin.close()
    await asyncio.to_thread(postgres.stop)
    return await asyncio.to_thread(postgres.start)


async def check(pool: asyncpg.Pool, acknowledged: Collection[str], config: Config) -> dict[str, Any]:
    """Every check's violations (0 passes; `replay` is "equal" or what differed), and `violations`, their sum."""
    if await pool.fetchval("SHOW track_commit_timestamp") != "on":
        raise RuntimeError("the checker needs track_commit_timestamp = on: the server has no commit times")
    stored = {r["key"]: r["outcome"] for r in await pool.fetch("SELECT key, outcome FROM signals")}
    results: dict[str, Any] = {
        "lost": sum(1 for key in acknowledged if key not in stored),
        "without_outcome": sum(1 for key in acknowledged if stored.get(key) in ("pending", "dead")),
        "duplicate_keys": await pool.fetchval(
            "SELECT count(*) FROM (SELECT key FROM signals GROUP BY key HAVING count(*) > 1) AS twice"
        ),
        "duplicate_client_ids": 0,
    }
    if await _has_column(pool, "orders", "client_id"):
        results["duplicate_client_ids"] = await pool.fetchval(
            "SELECT count(*) FROM (SELECT client_id FROM orders GROUP BY client_id HAVING count(*) > 1) AS twice"
        )
    written = " UNION ALL ".join(_ROWS.format(table=table) for table in await _epoch_tables(pool))
    fence = await pool.fetchrow(_STALE.format(written=written))
    assert fence is not None
    results["stale_epoch_commits"] = fence["stale"]
    results["unchecked_commits"] = fence["unchecked"]
    results["ledger_unfenced"] = await pool.fetchval(_LEDGER_UNFENCED.format(written=written))
    try:
        await assert_state_equals_replay(pool, config)
        results["replay"] = "equal"
    except AssertionError as exc:
        results["replay"] = f"differs: {str(exc)[:300]}"
    results["violations"] = sum(v for v in results.values() if isinstance(v, int)) + (results["replay"] != "equal")
    return results


async def _epoch_tables(pool: asyncpg.Pool) -> list[str]:
    """Every table of the schema with an `epoch` column but the fence's own, quoted for SQL."""
    rows = await pool.fetch(
        """SELECT quote_ident(table_name) AS name FROM information_schema.columns
           WHERE table_schema = current_schema() AND column_name = 'epoch' AND table_name <> ALL($1::text[])
           ORDER BY table_name""",
        list(FENCE_TABLES),
    )
    return [r["name"] for r in rows]


async def _has_column(pool: asyncpg.Pool, table: str, column: str) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT exists(SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2)",
            table,
            column,
        )
    )
