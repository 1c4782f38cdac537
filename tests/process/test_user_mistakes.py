"""A user's mistake at `basso run` is one line, never a traceback, and is found before anything is started."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from basso.embedded import EmbeddedRedis, free_port
from tests.processes import SECRET, running


async def basso_run(*args: str | int | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`basso run ARGS` to its end: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basso.cli",
        "run",
        *map(str, args),
        env={**os.environ, "BASSO_WEBHOOK_SECRET": SECRET, "BASSO_ADMIN_TOKEN": "admin", **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_port_already_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        status, out, err = await basso_run("--port", port, "--data-dir", tmp_path / "data")
    assert (status, out) == (2, "")
    assert err == (
        f"basso run: error: --port: port {port} on 127.0.0.1 is already in use (another program listens "
        "there); stop it or choose another port with --port or [server] port\n"
    )
    assert not (tmp_path / "data").exists()  # no secret generated, no database initialised


async def test_a_host_that_is_not_this_machines_is_one_line(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    status, _out, err = await basso_run("--host", "192.0.2.1", "--port", free_port(), "--data-dir", tmp_path)
    assert (status, err) == (2, "basso run: error: --host: 192.0.2.1 is not an address of this machine\n")


@pytest.mark.timeout(180)  # three starts of basso run, one after the other
async def test_a_second_basso_on_the_same_data_directory_names_the_first_and_its_pid(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    async with running(fresh_database, redis_server.url, data) as first:
        status, out, err = await basso_run(
            "--port",
            free_port(),
            "--data-dir",
            data,
            env={"BASSO_DATABASE_URL": fresh_database, "BASSO_REDIS_URL": redis_server.url},
        )
        assert (status, out) == (2, "")
        assert err == (
            f"basso run: error: --data-dir: another Basso (PID {first.process.pid}) is running on "
            f"{data.resolve()}; stop it, or give this one its own --data-dir\n"
        )
        assert (data / "basso.lock").read_text() == f"{first.process.pid}\n"
        assert await first.terminate() == 0  # the first one never noticed
    # Once the first has stopped, the directory is free again.
    async with running(fresh_database, redis_server.url, data) as again:
        assert await again.terminate() == 0


@pytest.mark.timeout(180)  # two starts of basso run, one after the other
async def test_capital_given_to_a_database_that_has_its_capital_is_said_to_be_ignored(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with running(fresh_database, redis_server.url, tmp_path) as first:
        await first.wait_log("deposited initial capital 5000000")
        assert await first.terminate() == 0
    async with running(fresh_database, redis_server.url, tmp_path, extra_args=("--capital", "7500000")) as second:
        said = [line for line in second.log if "--capital" in line]
        assert await second.terminate() == 0
    assert len(said) == 1
    assert said[0].endswith(
        "WARNING basso.commands.preflight: --capital 7500000 is ignored: the configured database "
        "(BASSO_DATABASE_URL or [server] database_url) already has its capital (--capital is only the first "
        "deposit); add capital with `basso capital deposit AMOUNT` while Basso runs\n"
    )
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT sum(amount) FROM ledger") == Decimal("5000000.00")  # the first, only
    finally:
        await conn.close()


async def test_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    status, _out, err = await basso_run("--port", "70000", "--data-dir", tmp_path / "data")
    assert (status, err) == (2, "basso run: error: argument --port: must be a port number 1-65535, got 70000\n")
    assert not (tmp_path / "data").exists()
