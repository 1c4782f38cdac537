"""Basso as a real process (`python -m basso.cli run`), driven over real HTTP: the harness the process tests
and the multi-process benches (bench/chaos.py, bench/failover.py) share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from basso.embedded import free_port

SECRET = "process-secret"


@dataclass
class Instance:
    """One running `basso run` process."""

    process: asyncio.subprocess.Process
    url: str
    session: aiohttp.ClientSession
    started: float  # time.time() when the process was spawned
    log: list[str]
    read_at: list[float]  # time.time() when each line of `log` was read: the benches time the process by them
    logged: asyncio.Event  # set by every line the process logs
    drain: asyncio.Task[None]  # reads the log until the process closes it

    async def wait_log(self, text: str, *, after: int = 0, limit_s: float = 30.0) -> str:
        """The first line from index `after` on that contains `text`, waiting for the process to log it."""
        return self.log[await self._wait_line(text, after, limit_s)]

    async def when_logged(self, text: str, *, after: int = 0, limit_s: float = 30.0) -> float:
        """When (time.time()) the first line from index `after` on that contains `text` was read, waiting for it."""
        return self.read_at[await self._wait_line(text, after, limit_s)]

    async def _wait_line(self, text: str, after: int, limit_s: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            for index in range(after, len(self.log)):
                if text in self.log[index]:
                    return index
            if self.process.returncode is not None:
                if not self.drain.done():
                    await self.drain  # the last lines may still be on their way
                    continue
                raise AssertionError(f"exited ({self.process.returncode}) without logging {text!r}")
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} not logged within {limit_s} s:\n" + "".join(self.log[-20:]))
            self.logged.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.logged.wait(), deadline - loop.time())

    async def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        async with self.session.post(f"{self.url}/webhook", data=body) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> Any:
        async with self.session.get(f"{self.url}{path}") as response:
            return await response.json(content_type=None)

    async def wait_processed(self, signal_id: str) -> dict[str, Any]:
        """The signal's record once it has an outcome (each check is an HTTP round trip, not a sleep)."""
        while True:
            record: dict[str, Any] = await self.get(f"/api/signals/{signal_id}")
            if record.get("status") not in (None, "pending"):
                return record

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)


async def _read_until_serving(process: asyncio.subprocess.Process, log: list[str], read_at: list[float]) -> None:
    assert process.stderr is not None
    while True:
        line = (await process.stderr.readline()).decode(errors="replace")
        if not line:
            raise RuntimeError("basso run exited before serving:\n" + "".join(log))
        read_at.append(time.time())
        log.append(line)
        if "serving on" in line:
            return


async def _drain(
    process: asyncio.subprocess.Process, log: list[str], read_at: list[float], logged: asyncio.Event
) -> None:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        read_at.append(time.time())
        log.append(line.decode(errors="replace"))
        logged.set()
    logged.set()


@asynccontextmanager
async def running(
    database_url: str,
    redis_url: str,
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[Instance]:
    """Start `basso run` on a free port and yield it once it serves; stop it (SIGTERM) afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "BASSO_DATABASE_URL": database_url,
        "BASSO_REDIS_URL": redis_url,
        "BASSO_WEBHOOK_SECRET": SECRET,
        "BASSO_ADMIN_TOKEN": "admin",
        **(extra_env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basso.cli",
        "run",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra_args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    started = time.time()
    log: list[str] = []
    read_at: list[float] = []
    try:
        await asyncio.wait_for(_read_until_serving(process, log, read_at), 60)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # it may have exited by itself: what is being raised
            process.kill()
        await process.wait()
        raise
    logged = asyncio.Event()
    drain = asyncio.create_task(_drain(process, log, read_at, logged))
    async with aiohttp.ClientSession() as session:
        instance = Instance(
            process=process,
            url=f"http://127.0.0.1:{port}",
            session=session,
            started=started,
            log=log,
            read_at=read_at,
            logged=logged,
            drain=drain,
        )
        try:
            yield instance
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await drain
