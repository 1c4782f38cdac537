"""A roll through OpenAlgo with its leader killed mid-leg (issue 14): two `basso run` processes on one PostgreSQL and
Redis, the fake OpenAlgo on a real socket. The leader sends the roll's first leg — SELL the old Gold Mini contract,
a LIMIT that rests in the book — and is killed with `kill -9` before it is filled. The standby takes over, finds the
order by its broker id (never sending it again), takes the rest at MARKET, and the roll goes on: BUY the new
contract, then the layer shifts by the spread between the fills.

Figures by hand from the shipped configuration (100 g a lot, ₹10 a point a lot, tick 1, LIMIT at LTP ± 2 ticks,
commission 0.05 % of notional per side)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from basso.actors.order_desk import broker_tag
from basso.config import Config
from basso.embedded import EmbeddedRedis
from basso.rules.contracts import contract_now
from basso.store.rolls import NewRoll, start_roll
from basso.timeutil import IST
from tests.process.test_openalgo import ENTRY, GOLD_CONTRACT, done, fake_openalgo, gold
from tests.processes import running

pytestmark = pytest.mark.timeout(180)


async def roll_state(database_url: str) -> str | None:
    connection = await asyncpg.connect(database_url)
    try:
        state: str | None = await connection.fetchval("SELECT state FROM rolls")
        return state
    finally:
        await connection.close()


async def test_the_leader_killed_while_a_roll_leg_works_is_followed_by_one_that_finishes_the_roll(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    now = datetime.now(UTC)
    old = contract_now(config, "GOLD_MINI", now)  # the contract an entry goes into today
    new = contract_now(config, "GOLD_MINI", datetime.combine(old.expiry + timedelta(days=1), datetime.min.time(), IST))
    async with fake_openalgo() as fake:
        path = tmp_path / "basso.toml"
        # A chase waits 2 s before its first status check: the leader is killed in that wait.
        path.write_text(
            f'[signals]\nmax_age_s = 0\n\n[broker]\nkind = "openalgo"\nurl = "{fake.url}"\nstep_interval_s = 2.0\n',
            "utf-8",
        )
        env = {"BASSO_CONFIG": str(path), "BASSO_OPENALGO_API_KEY": fake.api_key}
        fake.set_market(old.future_symbol, **GOLD_CONTRACT, ltp="78500")
        fake.set_market(new.future_symbol, **GOLD_CONTRACT, ltp="78950")
        async with running(fresh_database, redis_server.url, tmp_path / "a", env) as first:
            await first.wait_log("leading: lease")
            async with running(fresh_database, redis_server.url, tmp_path / "b", env) as second:
                assert await second.get("/leader") == {"leader": False}
                # docs/rules.md §3's vector: 2 lots at 78,500 (BUY LIMIT 78,502 crosses the ask, filled at 78,500).
                assert (await second.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
                await asyncio.wait_for(done(second, "entry"), 60)
                # The old contract's bid drops 20 below the LTP: the roll's SELL LIMIT at 78,498 rests.
                fake.set_market(old.future_symbol, **GOLD_CONTRACT, ltp="78500", bid="78480", ask="78520")
                connection = await asyncpg.connect(fresh_database)
                try:
                    epoch = await connection.fetchval("SELECT epoch FROM leader_fence")
                    await start_roll(
                        connection,
                        epoch=epoch,
                        at=now,
                        roll=NewRoll(
                            instrument="GOLD_MINI",
                            old_contract=old.future_symbol,
                            old_expiry=old.expiry,
                            new_contract=new.future_symbol,
                            new_expiry=new.expiry,
                            new_strike=None,
                            old_price=Decimal(78500),
                            new_price=Decimal(78950),
                            reason="the test's roll",
                        ),
                    )
                finally:
                    await connection.close()
                while len(fake.sent("placeorder")) < 2:  # the SELL is at the broker, its chase waiting
                    await second.get("/leader")
                first.process.kill()
                await first.process.wait()
                await second.wait_log("leading: lease")  # Recovery takes the SELL up: found by its id, not re-sent
                async with asyncio.timeout(60):
                    while await roll_state(fresh_database) != "done":
                        await second.get("/leader")
                assert await second.terminate() == 0
        placed = [(b["symbol"], b["action"], b["pricetype"], b["quantity"]) for b in fake.sent("placeorder")]
        assert placed == [
            (old.future_symbol, "BUY", "LIMIT", "200"),
            (old.future_symbol, "SELL", "LIMIT", "200"),  # by the killed leader
            (old.future_symbol, "SELL", "MARKET", "200"),  # by the new one, once the LIMIT was cancelled
            (new.future_symbol, "BUY", "LIMIT", "200"),
        ]
        tags = [b["strategy"] for b in fake.sent("placeorder")]
        assert len(tags) == len(set(tags))
        assert (fake.net(old.future_symbol), fake.net(new.future_symbol)) == (0, 200)
    connection = await asyncpg.connect(fresh_database)
    try:
        ours = {
            broker_tag(r["client_id"]) + s
            for r in await connection.fetch("SELECT client_id FROM orders")
            for s in ("", "-m")
        }
        assert set(tags) <= ours
        layer = await connection.fetchrow(
            "SELECT lots, entry_price, initial_stop, current_stop, highest_close, contract, status FROM positions"
        )
        costs = [
            r["amount"]
            for r in await connection.fetch("SELECT amount FROM ledger WHERE kind = 'roll_cost' ORDER BY id")
        ]
    finally:
        await connection.close()
    # Closed at the bid 78,480 (MARKET), opened at the ask 78,950: spread +470. Entry 78,970, stops 78,270.
    assert layer is not None
    assert tuple(layer) == (
        2,
        Decimal("78970.0000"),
        Decimal("78270.0000"),
        Decimal("78270.0000"),
        Decimal("78970.0000"),
        new.future_symbol,
        "open",
    )
    # 78,480 × 20 × 0.05 % = 784.80; 78,950 × 20 × 0.05 % = 789.50.
    assert costs == [Decimal("-784.80"), Decimal("-789.50")]
