"""`basso run` with `[broker] kind = "openalgo"` against the fake OpenAlgo on a real socket: orders go out once,
fills come back from the trade book, the ledger is booked from them; a reject fails the signal with the broker's
words; a lost reply and a process killed between placing an order and recording it both end with exactly one
order at the broker, found rather than sent again. After each, the checker: no client id twice at the broker, no
order there we did not record, and positions and ledger equal a replay of the fills."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from basso.actors.order_desk import broker_tag
from basso.config import Config
from basso.embedded import EmbeddedRedis
from basso.rules.contracts import contract_now
from basso.timeutil import IST
from tests.brokers.fake_openalgo import FakeOpenAlgo
from tests.processes import SECRET, Instance, running
from tests.replay import assert_state_equals_replay

pytestmark = pytest.mark.timeout(180)


def gold(kind: str, signal_id: str, price: float, **extra: Any) -> bytes:
    """A Gold Mini signal stamped now."""
    body: dict[str, Any] = {
        "type": kind,
        "instrument": "GOLD_MINI",
        "price": price,
        "secret": SECRET,
        "timestamp": datetime.now(IST).replace(tzinfo=None).isoformat(timespec="seconds"),
        "signal_id": signal_id,
        **extra,
    }
    return orjson.dumps(body)


# What the fake's /symbol answers for them, as the shipped configuration has them (checked before each day's first
# entry): 100 g a Gold Mini lot, tick ₹1; 2,500 kg a Copper lot, tick ₹0.05.
GOLD_CONTRACT: dict[str, Any] = {"lot_size": 100, "tick": "1"}
COPPER_CONTRACT: dict[str, Any] = {"lot_size": 2500, "tick": "0.05"}

ENTRY = {"position": "Long_1", "stop": 77800, "atr": 450, "er": 0.85, "lots": 2, "supertrend": 77800}


@asynccontextmanager
async def fake_openalgo() -> AsyncIterator[FakeOpenAlgo]:
    fake = FakeOpenAlgo()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def settings(
    tmp_path: Path, fake: FakeOpenAlgo, *, timeout_s: float = 3.0, reconcile_every_s: float = 300.0
) -> dict[str, str]:
    path = tmp_path / "basso.toml"
    path.write_text(
        f"[signals]\nmax_age_s = 0\n\n[server]\nrate_limit_per_minute = 100000000\n\n"
        f'[broker]\nkind = "openalgo"\nurl = "{fake.url}"\nstep_interval_s = 0.05\n'
        f"timeout_s = {timeout_s}\nreconcile_every_s = {reconcile_every_s}\n",
        "utf-8",
    )
    return {"BASSO_CONFIG": str(path), "BASSO_OPENALGO_API_KEY": fake.api_key}


async def done(instance: Instance, signal_id: str) -> dict[str, Any]:
    """The signal's record once it is decided and every one of its orders is done (each check a round trip)."""
    record = await instance.wait_processed(signal_id)
    while any(o["status"] not in ("filled", "rejected", "cancelled") for o in record["orders"]):
        record = await instance.get(f"/api/signals/{signal_id}")
    # Read once more: the signal's row was read before its orders, and a reject fails the signal in the very
    # transaction that ends its order.
    record = await instance.get(f"/api/signals/{signal_id}")
    assert isinstance(record, dict)
    return record


async def assert_broker_and_facts_agree(database_url: str, fake: FakeOpenAlgo, config: Config, symbol: str) -> None:
    """The checker: each order we recorded reached the broker at most once, nothing reached it that we did not
    record, the broker holds what our layers hold, and positions and ledger equal a replay of the fills."""
    tags = [body["strategy"] for body in fake.sent("placeorder")]
    assert len(tags) == len(set(tags)), f"an order was placed twice: {tags}"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        # Each order's own tag, and its MARKET order's for a rest the LIMIT did not fill (basso/brokers/openalgo.py).
        ours = {
            broker_tag(r["client_id"]) + suffix
            for r in await pool.fetch("SELECT client_id FROM orders")
            for suffix in ("", "-m")
        }
        assert set(tags) <= ours, f"orders at the broker we never recorded: {set(tags) - ours}"
        held = await pool.fetchval(
            "SELECT coalesce(sum(lots), 0) FROM positions WHERE instrument = 'GOLD_MINI'"
            " AND status IN ('opening', 'partial', 'open')"
        )
        assert fake.net(symbol) == held * 100  # 100 g a lot
        await assert_state_equals_replay(pool, config, paper=False)
    finally:
        await pool.close()


async def test_an_entry_and_its_exit_are_placed_once_and_booked_from_the_fills(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        async with running(fresh_database, redis_server.url, tmp_path / "data", settings(tmp_path, fake)) as basso:
            assert (await basso.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            entry = await asyncio.wait_for(done(basso, "entry"), 60)
            # docs/rules.md §3's vector: ₹50 L, price 78,500, stop 77,800, ATR 450 ⇒ 2 lots, volatility-limited; 2 × 100 g.
            # The BUY LIMIT at 78,500 + 2 ticks crosses the ask (78,500) and fills there.
            assert [(o["side"], o["lots"], o["status"], o["fill_price"]) for o in entry["orders"]] == [
                ("BUY", 2, "filled", "78500.0000")
            ]
            [placed] = fake.sent("placeorder")
            assert (placed["action"], placed["quantity"], placed["pricetype"], placed["price"]) == (
                "BUY",
                "200",
                "LIMIT",
                "78502.0",
            )
            fake.set_market(symbol, **GOLD_CONTRACT, ltp="79000")
            assert (await basso.post(gold("EXIT", "exit", 79000, position="ALL", reason="trend over")))[0] == 200
            await asyncio.wait_for(done(basso, "exit"), 60)
            ledger = await basso.get("/api/ledger")
            # 50,00,000 − commission 78,500 × 2 × 10 × 0.05 % (785) + (79,000 − 78,500) × 2 × 10 (10,000)
            # − commission 79,000 × 2 × 10 × 0.05 % (790) = 50,08,425.
            assert Decimal(str(ledger["closed_equity"])) == Decimal("5008425.00")
            assert await basso.terminate() == 0
        assert len(fake.sent("placeorder")) == 2
        assert fake.net(symbol) == 0
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_a_rejected_entry_fails_its_signal_with_the_brokers_reason(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500").reject = "RMS:Margin Exceeds"
        async with running(fresh_database, redis_server.url, tmp_path / "data", settings(tmp_path, fake)) as basso:
            assert (await basso.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            record = await asyncio.wait_for(done(basso, "entry"), 60)
            assert (record["status"], record["reason"]) == ("failed", "broker: HTTP 400: RMS:Margin Exceeds")
            assert [o["status"] for o in record["orders"]] == ["rejected"]
            assert (await basso.get("/api/status"))["open_layers"] == 0
            assert await basso.terminate() == 0
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_a_lost_reply_for_an_order_that_filled_is_found_not_sent_again(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        fake.fail_next("placeorder", "http500", after_processing=True)  # placed and filled; the reply lost
        async with running(fresh_database, redis_server.url, tmp_path / "data", settings(tmp_path, fake)) as basso:
            assert (await basso.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            record = await asyncio.wait_for(done(basso, "entry"), 60)
            [order] = record["orders"]
            assert (order["status"], order["broker_order_id"]) == ("filled", next(iter(fake.orders)))
            assert await basso.terminate() == 0
        assert len(fake.sent("placeorder")) == 1
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_a_process_killed_between_placing_an_order_and_recording_it_leaves_one_order(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        fake.fail_next("placeorder", "hang", after_processing=True)  # placed and filled; no reply ever comes
        env = settings(tmp_path, fake, timeout_s=60.0)
        async with running(fresh_database, redis_server.url, tmp_path / "data", env) as first:
            assert (await first.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            while not fake.orders:  # at the broker, and the process still waiting for the reply
                await first.get("/api/signals/entry")
            record = await first.get("/api/signals/entry")
            assert [o["status"] for o in record["orders"]] == ["sent"]  # recorded as sent before it left
            first.process.kill()
            await first.process.wait()
        async with running(fresh_database, redis_server.url, tmp_path / "data", env) as second:
            record = await asyncio.wait_for(done(second, "entry"), 60)
            [order] = record["orders"]
            assert (order["status"], order["broker_order_id"]) == ("filled", next(iter(fake.orders)))
            assert await second.terminate() == 0
        assert len(fake.sent("placeorder")) == 1  # found at the broker, never sent again
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


def copper(signal_id: str) -> bytes:
    """A Copper base entry stamped now (a second instrument, unaffected by a Gold Mini break)."""
    return orjson.dumps(
        {
            "type": "BASE_ENTRY",
            "instrument": "COPPER",
            "position": "Long_1",
            "price": 800,
            "stop": 799,
            "atr": 2,
            "er": 0.8,
            "lots": 1,
            "supertrend": 799,
            "secret": SECRET,
            "signal_id": signal_id,
            "timestamp": datetime.now(IST).replace(tzinfo=None).isoformat(timespec="seconds"),
        }
    )


async def reconciled(instance: Instance, *, matched: bool, after: datetime | None = None) -> dict[str, Any]:
    """The newest reconciliation once it says `matched` (and is newer than `after`); each check a round trip."""
    while True:
        found = (await instance.get("/api/reconciliation"))["reconciliation"]
        if (
            found is not None
            and found["matched"] is matched
            and (after is None or datetime.fromisoformat(found["at"]) > after)
        ):
            return dict(found)


async def test_a_reconciliation_break_blocks_entries_on_its_instrument_only_until_the_broker_matches(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    gold_symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    copper_symbol = contract_now(config, "COPPER", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(gold_symbol, **GOLD_CONTRACT, ltp="78500")
        fake.set_market(copper_symbol, **COPPER_CONTRACT, ltp="800")
        fake.hold(gold_symbol, 100, exchange="MCX")  # a lot of Gold Mini bought by hand at the broker
        env = settings(tmp_path, fake, reconcile_every_s=0.2)
        async with running(fresh_database, redis_server.url, tmp_path / "data", env) as basso:
            found = await asyncio.wait_for(reconciled(basso, matched=False), 60)
            assert found["breaks"] == [
                {
                    "instrument": "GOLD_MINI",
                    "symbol": gold_symbol,
                    "kind": "missing_here",
                    "expected": 0,
                    "at_broker": 100,
                }
            ]
            assert (await basso.post(gold("BASE_ENTRY", "blocked", 78500, **ENTRY)))[0] == 200
            record = await asyncio.wait_for(basso.wait_processed("blocked"), 60)
            assert record["status"] == "blocked"
            assert "reconciliation break on " + gold_symbol in record["reason"]
            assert (await basso.post(copper("copper")))[0] == 200  # another instrument trades on
            assert (await asyncio.wait_for(done(basso, "copper"), 60))["status"] == "executed"
            alerts = (await basso.get("/api/alerts"))["alerts"]
            assert [a["kind"] for a in alerts if a["instrument"] == "GOLD_MINI"] == ["reconciliation_break"]

            fake.hold(gold_symbol, -100, exchange="MCX")  # the trader closes it by hand: the broker matches again
            await asyncio.wait_for(reconciled(basso, matched=True), 60)
            assert (await basso.post(gold("BASE_ENTRY", "after", 78500, **ENTRY)))[0] == 200
            assert (await asyncio.wait_for(done(basso, "after"), 60))["status"] == "executed"
            assert await basso.terminate() == 0
        await assert_broker_and_facts_agree(fresh_database, fake, config, gold_symbol)


async def test_a_failed_broker_session_blocks_entries_until_a_check_succeeds(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        env = settings(tmp_path, fake, reconcile_every_s=0.2)
        async with running(fresh_database, redis_server.url, tmp_path / "data", env) as basso:
            await asyncio.wait_for(reconciled(basso, matched=True), 60)
            fake.session_alive = False  # OpenAlgo's broker session logged out (it happens every night)
            failed = await asyncio.wait_for(reconciled(basso, matched=False), 60)
            assert "session expired" in failed["error"]
            assert (await basso.post(gold("BASE_ENTRY", "while-out", 78500, **ENTRY)))[0] == 200
            record = await asyncio.wait_for(basso.wait_processed("while-out"), 60)
            assert record["status"] == "blocked"
            assert "position book could not be read" in record["reason"]
            alerts = (await basso.get("/api/alerts"))["alerts"]
            assert "broker_session" in [a["kind"] for a in alerts]
            assert basso.process.returncode is None  # an alert and a block, never a crash
            fake.session_alive = True  # logged in again
            await asyncio.wait_for(reconciled(basso, matched=True), 60)
            assert (await basso.post(gold("BASE_ENTRY", "back", 78500, **ENTRY)))[0] == 200
            assert (await asyncio.wait_for(done(basso, "back"), 60))["status"] == "executed"
            assert await basso.terminate() == 0
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_a_partial_fill_then_the_rest_at_market_books_the_weighted_average(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        # The ask stands 20 above the LTP: the BUY LIMIT at 78,502 fills 100 g as placed and no more, through three
        # modifications (78,504, 78,506, 78,508); then it is cancelled and the other 100 g bought at MARKET, at the
        # ask 78,520.
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500", bid="78480", ask="78520").partial_fill = 100
        async with running(fresh_database, redis_server.url, tmp_path / "data", settings(tmp_path, fake)) as basso:
            assert (await basso.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            entry = await asyncio.wait_for(done(basso, "entry"), 60)
            # (78,502 × 100 + 78,520 × 100) ÷ 200 = 78,511.
            assert [(o["lots"], o["status"], o["fill_price"]) for o in entry["orders"]] == [(2, "filled", "78511.0000")]
            assert [(b["pricetype"], b["quantity"]) for b in fake.sent("placeorder")] == [
                ("LIMIT", "200"),
                ("MARKET", "100"),
            ]
            assert len(fake.sent("modifyorder")) == 3
            ledger = await basso.get("/api/ledger")
            # Commission 78,511 × 2 × 10 × 0.05 % = 785.11.
            assert Decimal(str(ledger["closed_equity"])) == Decimal("4999214.89")
            assert await basso.terminate() == 0
        assert fake.net(symbol) == 200
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_a_trailing_stop_hit_by_a_bar_close_sells_the_layer_through_openalgo(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        async with running(fresh_database, redis_server.url, tmp_path / "data", settings(tmp_path, fake)) as basso:
            assert (await basso.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            await asyncio.wait_for(done(basso, "entry"), 60)
            fake.set_market(symbol, **GOLD_CONTRACT, ltp="77700")
            # A bar closes at 77,700, below the stop 77,800: the layer exits at the close.
            assert (await basso.post(gold("MARKET_DATA", "bar", 77700, atr=450)))[0] == 200
            bar = await asyncio.wait_for(done(basso, "bar"), 60)
            assert [(o["side"], o["lots"], o["status"], o["fill_price"]) for o in bar["orders"]] == [
                ("SELL", 2, "filled", "77700.0000")
            ]
            ledger = await basso.get("/api/ledger")
            # 50,00,000 − 785 (78,500 × 20 × 0.05 %) + (77,700 − 78,500) × 2 × 10 (−16,000) − 777 (77,700 × 20 ×
            # 0.05 %) = 49,82,438.
            assert Decimal(str(ledger["closed_equity"])) == Decimal("4982438.00")
            assert (await basso.get("/api/status"))["open_layers"] == 0
            assert await basso.terminate() == 0
        assert fake.net(symbol) == 0
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_the_leader_killed_while_an_order_is_working_leaves_it_to_the_new_leader(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        fake.fail_next("placeorder", "hang", after_processing=True)  # placed and filled; no reply ever comes
        env = settings(tmp_path, fake, timeout_s=60.0)
        async with running(fresh_database, redis_server.url, tmp_path / "a", env) as first:
            await first.wait_log("leading: lease")
            async with running(fresh_database, redis_server.url, tmp_path / "b", env) as second:
                assert await second.get("/leader") == {"leader": False}
                assert (await second.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
                while not fake.orders:  # at the broker, and the leader still waiting for the reply
                    await second.get("/api/signals/entry")
                first.process.kill()
                await first.process.wait()
                await second.wait_log("leading: lease")  # Recovery takes the order up: found, not sent again
                record = await asyncio.wait_for(done(second, "entry"), 60)
                [order] = record["orders"]
                assert (order["status"], order["broker_order_id"]) == ("filled", next(iter(fake.orders)))
                assert await second.terminate() == 0
        assert len(fake.sent("placeorder")) == 1
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)


async def test_a_pyramid_and_an_exit_all_are_each_placed_once_and_booked_from_the_fills(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path, config: Config
) -> None:
    symbol = contract_now(config, "GOLD_MINI", datetime.now(UTC)).future_symbol
    async with fake_openalgo() as fake:
        fake.set_market(symbol, **GOLD_CONTRACT, ltp="78500")
        async with running(fresh_database, redis_server.url, tmp_path / "data", settings(tmp_path, fake)) as basso:
            assert (await basso.post(gold("BASE_ENTRY", "entry", 78500, **ENTRY)))[0] == 200
            await asyncio.wait_for(done(basso, "entry"), 60)
            fake.set_market(symbol, **GOLD_CONTRACT, ltp="80000")
            # docs/rules.md §5 at 80,000, stop 79,500: 1R gate 80,000 − 78,500 = 1,500 > 700; spacing 1,500 ≥ 0.5 × 450;
            # open profit 1,500 × 2 × 10 = 30,000 > 0. B discipline = 2 × 0.5 = 1; C profit budget = 0.5 × (30,000 −
            # 700 × 2 × 10) ÷ (500 × 10) = 1.6; A margin and D headroom are far above ⇒ 1 lot, 100 g.
            pyramid = {"position": "Long_2", "stop": 79500, "atr": 450, "er": 0.85, "lots": 1, "supertrend": 79500}
            assert (await basso.post(gold("PYRAMID", "pyramid", 80000, **pyramid)))[0] == 200
            record = await asyncio.wait_for(done(basso, "pyramid"), 60)
            assert [(o["side"], o["lots"], o["fill_price"]) for o in record["orders"]] == [("BUY", 1, "80000.0000")]
            fake.set_market(symbol, **GOLD_CONTRACT, ltp="80500")
            assert (await basso.post(gold("EXIT", "exit", 80500, position="ALL", reason="trend over")))[0] == 200
            record = await asyncio.wait_for(done(basso, "exit"), 60)
            assert sorted((o["side"], o["lots"], o["fill_price"]) for o in record["orders"]) == [
                ("SELL", 1, "80500.0000"),
                ("SELL", 2, "80500.0000"),
            ]
            ledger = await basso.get("/api/ledger")
            # 50,00,000 − 785 − 400 (80,000 × 10 × 0.05 %) + (80,500 − 78,500) × 20 + (80,500 − 80,000) × 10
            # − 805 (80,500 × 20 × 0.05 %) − 402.50 (80,500 × 10 × 0.05 %) = 50,42,607.50.
            assert Decimal(str(ledger["closed_equity"])) == Decimal("5042607.50")
            assert await basso.terminate() == 0
        placed = [(b["action"], int(b["quantity"])) for b in fake.sent("placeorder")]
        # The two exits are worked side by side: either may reach the broker first.
        assert (placed[:2], sorted(placed[2:])) == ([("BUY", 200), ("BUY", 100)], [("SELL", 100), ("SELL", 200)])
        await assert_broker_and_facts_agree(fresh_database, fake, config, symbol)
