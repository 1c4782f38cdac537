"""Basso installed the way a user installs it: a real wheel built from this tree, in a fresh virtual environment,
runs `basso run` to ready, trades one signal and stops.

An editable install reads the repository; a wheel carries only what packaging put in it, so this is the test
that notices a file (the migrations, the defaults) left out of the package.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from basso.embedded import free_port
from tests.process.test_restart import now_ist
from tests.web.test_webhook import PAYLOADS

SECRET = "wheel-secret"
REPO = Path(__file__).resolve().parents[2]
# Never part of a build: a stale build/ would put files removed since into the wheel.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", "basso-data", ".*_cache", ".hypothesis", "tests", "bench"
)


def clean_environment() -> dict[str, str]:
    """This process's environment without what would point the new one at this checkout or its settings."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV", "BASSO_"))}


async def check_call(*args: str | Path, cwd: Path, limit_s: float) -> str:
    """Run a command to completion; its output, or a failure that shows it."""
    process = await asyncio.create_subprocess_exec(
        *map(str, args),
        cwd=cwd,
        env=clean_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), limit_s)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(map(str, args))} exited {process.returncode}:\n{text[-3000:]}"
    return text


async def build_and_install(tmp_path: Path) -> Path:
    """The wheel built from a copy of this tree, installed in a new virtual environment: its bin directory."""
    source, dist, venv = tmp_path / "source", tmp_path / "dist", tmp_path / "venv"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    await check_call(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source, cwd=tmp_path, limit_s=300
    )
    (wheel,) = dist.glob("basso-*.whl")
    await check_call(sys.executable, "-m", "venv", venv, cwd=tmp_path, limit_s=120)
    await check_call(venv / "bin" / "pip", "install", "--quiet", wheel, cwd=tmp_path, limit_s=600)
    return venv / "bin"


async def start(bin_dir: Path, port: int, data_dir: Path, *args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    """`basso run` from the installed wheel, once it serves, and what it logged until then."""
    process = await asyncio.create_subprocess_exec(
        bin_dir / "basso",
        "run",
        "--port",
        str(port),
        "--data-dir",
        data_dir,
        *args,
        cwd=data_dir.parent,
        env={**clean_environment(), "BASSO_WEBHOOK_SECRET": SECRET, "BASSO_ADMIN_TOKEN": "admin"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    log: list[str] = []
    assert process.stderr is not None
    try:
        async with asyncio.timeout(120):  # a first start initialises embedded PostgreSQL and Redis from scratch
            while "serving on" not in (line := (await process.stderr.readline()).decode()):
                assert line, "basso run exited before serving:\n" + "".join(log)
                log.append(line)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return process, log


async def stop(process: asyncio.subprocess.Process) -> int:
    """SIGTERM, and the exit status once it has finished."""
    assert process.stderr is not None
    process.terminate()
    async with asyncio.timeout(60):
        await process.stderr.read()
        return await process.wait()


@pytest.mark.timeout(900)
async def test_a_built_wheel_in_a_fresh_venv_serves_and_trades_one_signal(tmp_path: Path) -> None:
    bin_dir = await build_and_install(tmp_path)
    # The installed package, not this checkout: nothing of the repository is on that interpreter's path.
    where = await check_call(bin_dir / "python", "-c", "import basso; print(basso.__file__)", cwd=tmp_path, limit_s=60)
    assert where.strip().startswith(str(tmp_path / "venv")), where

    port, data_dir = free_port(), tmp_path / "data"
    process, _log = await start(bin_dir, port, data_dir)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            # Stored at once, traded once this instance leads and has recovered.
            body = {
                **PAYLOADS["BASE_ENTRY_BANK_NIFTY"],
                "timestamp": now_ist(),
                "secret": SECRET,
                "signal_id": "wheel-1",
            }
            async with http.post("/webhook", data=orjson.dumps(body)) as response:
                assert (response.status, (await response.json())["status"]) == (200, "accepted")
            async with asyncio.timeout(60):
                while True:  # each look is an HTTP round trip, not a sleep
                    async with http.get("/api/signals/wheel-1") as response:
                        record = await response.json()
                    if record["status"] != "pending":
                        break
            async with http.get("/health/ready") as response:  # it traded, so it has recovered: ready
                assert response.status == 200, await response.text()
        # The sample on ₹50,00,000 trades (the same case tests/web/test_pipeline_samples.py works out by hand).
        assert record["status"] == "executed", record
        assert await stop(process) == 0

        # Started again with --capital on the embedded database it made: said to be ignored, and it serves.
        process, log = await start(bin_dir, port, data_dir, "--capital", "7500000")
        assert [line.split(" WARNING ", 1)[1] for line in log if "--capital" in line] == [
            f"basso.commands.preflight: --capital 7500000 is ignored: the database in {data_dir / 'postgres'} "
            "already has its capital (--capital is only the first deposit); add capital with "
            "`basso capital deposit AMOUNT` while Basso runs\n"
        ]
        assert await stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
