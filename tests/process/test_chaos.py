"""bench/chaos.py, shortened (45 s of chaos, seed 15): three `basso run` processes under a signal stream while the
leader is killed and paused past its lease, Redis is restarted and PostgreSQL cut; the checker finds nothing.
And the checker itself, shown to fail: on a write the fence should have refused, made by hand, and on two real
leaders' writes once the fence check is removed from their processes and their database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import asyncpg
import pytest

from basso.config import load_config
from basso.embedded import EmbeddedPostgres, EmbeddedRedis
from basso.store.fence import take_fence
from basso.store.migrations import migrate
from tests.chaos_check import check, start_with_commit_times
from tests.conftest import server_directory
from tests.process.test_restart import sample
from tests.process.test_takeover import lead
from tests.processes import Instance, running
from tests.tcpproxy import proxy_to, through

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


@pytest.mark.timeout(600)
async def test_a_short_chaos_soak_loses_doubles_and_misfences_nothing() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHAOS),
        "--minutes",
        "0.75",
        "--seed",
        "15",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 560)
    assert out, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["checks"]["violations"] == 0, result
    assert result["passed"], (result, err.decode()[-3000:])
    assert process.returncode == 0
    # The seed's schedule starts with one fault of each kind; all four must have happened for the run to prove
    # anything. Bounds are generous: 45 s at up to 20 signals a second, less the outages, on a loaded machine.
    assert all(result["faults"][kind] >= 1 for kind in ("kill", "stop", "redis", "postgres")), result
    assert result["failovers"] >= result["faults"]["kill"] + result["faults"]["stop"], result
    assert result["signals"]["acknowledged"] >= 100, result
    assert result["signals"]["processed"] >= result["signals"]["acknowledged"], result
    assert result["checks"]["replay"] == "equal"


@pytest.mark.timeout(120)
async def test_the_checker_finds_a_write_under_an_epoch_already_superseded() -> None:
    with server_directory("basso-test-pg-commit-times-") as directory:
        postgres = EmbeddedPostgres(directory / "data", fsync=False)
        try:
            url = await start_with_commit_times(postgres)
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
            assert pool is not None
            try:
                async with pool.acquire() as conn:
                    await migrate(conn)
                    first = await take_fence(conn, "a", "test")
                    for key in ("in-time", "too-late"):
                        await conn.execute(
                            "INSERT INTO signals (key, kind, instrument, signal_time, payload)"
                            " VALUES ($1, 'MARKET_DATA', 'GOLD_MINI', now(), '{}')",
                            key,
                        )
                    settle = "UPDATE signals SET outcome = 'ignored', processed_at = now(), epoch = $2 WHERE key = $1"
                    await conn.execute(settle, "in-time", first)  # committed while `first` holds the fence
                    second = await take_fence(conn, "b", "test")
                    # A leader without its fence check: epoch `first` writes after `second` was taken.
                    await conn.execute(settle, "too-late", first)
                    # Money booked outside any transaction that recorded an epoch: unfenced.
                    await conn.execute(
                        "INSERT INTO ledger (at, kind, amount, signal, note)"
                        " SELECT now(), 'commission', -20, id, 'unfenced' FROM signals WHERE key = 'in-time'"
                    )
                results = await check(pool, ["in-time", "too-late", "never-stored"], load_config())
            finally:
                await pool.close()
        finally:
            await asyncio.to_thread(postgres.stop)
    assert second == first + 1
    assert results["stale_epoch_commits"] == 1  # "too-late" only: "in-time" committed before the take
    assert results["lost"] == 1  # "never-stored", acknowledged but absent
    assert results["unchecked_commits"] == 0
    assert results["ledger_unfenced"] == 1
    assert results["violations"] >= 3


# The fence check removed from the processes of a run, as a leader whose check is broken would run: a
# sitecustomize on their PYTHONPATH (Python imports it before anything else) compiles every basso.store module
# from its source with each `if <stored epoch> != epoch: raise FenceLost` made `if False:` (fenced(), a roll's
# start), and says which modules it changed (a fill's check is basso_record_fill's, in the database). It reads no bytecode cache and writes none,
# so no other process sees the change. (The notifier compares the epoch in its SQL; this scenario never needs
# it.)
_SITECUSTOMIZE = """\
import importlib.machinery
import re
import sys

_CHECK = re.compile(r"if [^\\n]+ != epoch:(\\s+raise FenceLost)")


class _Unfenced(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname):
        source, removed = _CHECK.subn(r"if False:\\1", self.get_data(self.path).decode())
        if removed:
            print(f"test sabotage: {removed} fence check(s) removed from {fullname}", file=sys.stderr)
        return compile(source, self.path, "exec", dont_inherit=True)


class _Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if not name.startswith("basso.store."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            spec.loader = _Unfenced(name, spec.origin)
        return spec


sys.meta_path.insert(0, _Finder)
"""
# Each database function that reads the fence refuses a write with `IF stored_epoch <> p_epoch THEN`.
_COMPARISON = re.compile(r"stored_epoch\s*<>\s*p_epoch")
# A long renewal deadline: the leader cut off from Redis goes on trading, in its own eyes rightly, for 50 s after
# its last renewal, long enough for a standby to take over and the old leader to be sent work (the lease
# keeps deadline < TTL: it is Redis forgetting the key that lets the standby in).
_LEADERSHIP = "[leadership]\nlease_ttl_s = 60.0\nrenew_deadline_s = 50.0\n"


async def remove_fence_checks(conn: asyncpg.Connection) -> list[str]:
    """Replace every database function that reads the fence by one that reads it and compares nothing; their
    names. A function that reads the fence some other way fails the test: this sabotage would not cover it."""
    functions = await conn.fetch(
        "SELECT p.proname AS name, pg_get_functiondef(p.oid) AS definition FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = current_schema() AND p.prosrc LIKE '%leader_fence%' ORDER BY p.proname"
    )
    for function in functions:
        broken, replaced = _COMPARISON.subn("false", function["definition"])
        assert replaced == 1, f"{function['name']} reads the fence without the comparison this test removes"
        await conn.execute(broken)
    return [function["name"] for function in functions]


async def settled(instance: Instance, signal_id: str) -> str:
    """The signal's outcome once it and its orders are done, within 30 s (each check an HTTP round trip)."""

    async def done() -> str:
        record = await instance.wait_processed(signal_id)
        while any(order["status"] != "filled" for order in record["orders"]):
            record = await instance.get(f"/api/signals/{signal_id}")
        return str(record["status"])

    return await asyncio.wait_for(done(), 30)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fence", ["removed", "intact"])
async def test_the_checker_catches_a_real_leader_writing_past_its_term_once_its_fence_check_is_removed(
    fence: str, tmp_path: Path
) -> None:
    """Two `basso run` processes. The leader is cut off from Redis and Redis restarts, forgetting the lease (it
    keeps nothing on disk): the standby takes it and the fence, while the old leader, whose renewals only fail,
    still trades until its deadline. It is sent an entry and an exit meanwhile. With the fence check intact they
    are refused and the new leader trades them; with it removed the old leader commits them under its old epoch,
    and the checker must say so, though the book it leaves is the same."""
    (tmp_path / "basso.toml").write_text(_LEADERSHIP)
    env = {"BASSO_CONFIG": str(tmp_path / "basso.toml")}
    if fence == "removed":
        (tmp_path / "sabotage").mkdir()
        (tmp_path / "sabotage" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(tmp_path / "sabotage"), os.environ.get("PYTHONPATH"))))
    acknowledged: list[str] = []

    async def post(instance: Instance, signal_id: str, name: str) -> None:
        status, reply = await instance.post(sample(name, signal_id))
        assert (status, reply["status"]) == (200, "accepted"), reply
        acknowledged.append(signal_id)

    with server_directory("basso-test-pg-fence-") as directory:
        postgres = EmbeddedPostgres(directory / "data", fsync=False)
        redis = EmbeddedRedis(tmp_path / "redis")
        try:
            url = await start_with_commit_times(postgres)
            await asyncio.to_thread(redis.start)
            conn = await asyncpg.connect(url)
            try:
                await migrate(conn)
                removed = await remove_fence_checks(conn) if fence == "removed" else []
            finally:
                await conn.close()
            async with (
                proxy_to(redis.port) as cable,  # the old leader's way to Redis, to cut
                running(url, through(cable.port, redis.url), tmp_path / "a", env) as old,
                running(url, redis.url, tmp_path / "b", env) as new,
            ):
                old_epoch = await lead(old)
                await post(old, "before", "BASE_ENTRY_BANK_NIFTY")
                assert await settled(old, "before") == "executed"

                cut = len(old.log)
                cable.cut()
                await old.wait_log("lease renewal failed", after=cut)
                took = len(new.log)
                await asyncio.to_thread(redis.stop)
                await asyncio.to_thread(redis.start)  # the same port, and no lease: the standby takes it
                new_epoch = await lead(new, after=took)
                await new.wait_log(f"recovered for epoch {new_epoch}", after=took)
                # Paused, the new leader trades nothing itself: whatever is traded next is the old leader's.
                new.process.send_signal(signal.SIGSTOP)
                assert await old.get("/leader") == {"leader": True}  # it has not missed its deadline yet
                if fence == "removed":
                    for signal_id, name in (("gold", "BASE_ENTRY_GOLD_MINI"), ("exit", "EXIT_ALL")):
                        await post(old, signal_id, name)
                        assert await settled(old, signal_id) == "executed"
                else:
                    await post(old, "gold", "BASE_ENTRY_GOLD_MINI")
                    await old.wait_log(f"leader fence lost: our epoch {old_epoch}, stored epoch {new_epoch}")
                    await post(old, "exit", "EXIT_ALL")  # stored for whoever leads
                back = len(old.log)
                cable.restore()
                await old.wait_log("no longer leading", after=back)  # its next renewal finds the lease taken

                new.process.send_signal(signal.SIGCONT)
                assert await settled(new, "gold") == "executed"
                assert await settled(new, "exit") == "executed"
                await post(new, "after", "BASE_ENTRY_BANK_NIFTY")
                assert await settled(new, "after") == "executed"
                assert await old.terminate() == 0
                assert await new.terminate() == 0
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
            assert pool is not None
            try:
                results = await check(pool, acknowledged, load_config(tmp_path / "basso.toml"))
                rows = await pool.fetch("SELECT payload->>'signal_id' AS signal_id, outcome, epoch FROM signals")
            finally:
                await pool.close()
        finally:
            await asyncio.to_thread(redis.stop)
            await asyncio.to_thread(postgres.stop)
    assert new_epoch == old_epoch + 1
    if fence == "removed":
        # Every database function that reads the fence lost its check (one a later migration adds that reads it
        # the same way loses it too; one that reads it otherwise fails remove_fence_checks), and so did the
        # Python code of both processes.
        functions = {"basso_commit_decision", "basso_commit_outcome", "basso_commit_roll_step", "basso_record_fill"}
        assert functions <= set(removed)
        for instance in (old, new):
            sabotaged = {line.rsplit(" ", 1)[1].strip() for line in instance.log if "test sabotage:" in line}
            assert {"basso.store.fence"} <= sabotaged, instance.log[:10]  # fenced()
        assert not any("leader fence lost" in line for line in old.log)
    # The same book either way (the gold entry and the exit traded, by whichever leader): only the epochs differ.
    by_old = old_epoch if fence == "removed" else new_epoch
    assert {r["signal_id"]: (r["outcome"], r["epoch"]) for r in rows} == {
        "before": ("executed", old_epoch),
        "gold": ("executed", by_old),
        "exit": ("executed", by_old),
        "after": ("executed", new_epoch),
    }
    # Stale with the check removed: the gold entry's two transactions (its decision, which the signal's row
    # keeps, its pending order row being rewritten by the fill; and its fill, kept by the order and the fills
    # row) and the exit's two the same way: 2 + 2 = 4. "before" committed ahead of the take, "after" at the new
    # epoch. Nothing else goes wrong: one leader wrote at a time (the other was paused), so no signal or order
    # is doubled and the book still equals its replay. That the epochs alone give it away is the point.
    stale = 2 + 2 if fence == "removed" else 0
    assert results == {
        "lost": 0,
        "without_outcome": 0,
        "duplicate_keys": 0,
        "duplicate_client_ids": 0,
        "stale_epoch_commits": stale,
        "unchecked_commits": 0,
        "ledger_unfenced": 0,
        "replay": "equal",
        "violations": stale,
    }
