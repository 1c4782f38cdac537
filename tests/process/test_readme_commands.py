"""Every `basso …` command in the README's ```sh blocks runs, as written, against a real `basso run`.

The test reads README.md, starts its `basso run` (the embedded default: its own PostgreSQL and Redis under a
fresh data directory) in a scratch directory that holds `tests/data/` as the repository does, and runs every
other `basso` command in the order the README gives them, from that directory: each must exit 0. The only
thing the test adds is the port (a configuration file in $BASSO_CONFIG, since 5002 may be taken), which every
command reads. Where the README shows what a `basso send` prints (the `# …` line under it), the output must
contain it: those figures were worked out by hand in the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from basso.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SEPARATORS = {"&&", "||", ";", "|"}


@dataclass(frozen=True)
class Command:
    """One `basso …` command of the README, and the output shown under it (if any)."""

    argv: tuple[str, ...]
    shown: str | None
    line: str


def readme_commands(text: str) -> list[Command]:
    """The `basso` commands of every ```sh block, in order (continuation lines and quotes that span lines joined,
    comments dropped), as a shell would split them."""
    commands: list[Command] = []
    for block in _BLOCK.findall(text):
        lines = block.replace("\\\n", " ").splitlines()
        pending = ""
        for index, line in enumerate(lines):
            pending += line
            try:
                tokens = _tokens(pending)
            except ValueError:  # a quote still open: the command goes on on the next line
                pending += "\n"
                continue
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            shown = following.removeprefix("# ") if following.startswith("# ") else None
            segment: list[str] = []
            for token in [*tokens, ";"]:
                if token not in _SEPARATORS:
                    segment.append(token)
                    continue
                if segment and segment[0] == "basso":
                    commands.append(Command(argv=tuple(segment), shown=shown, line=" ".join(pending.split())))
                segment = []
            pending = ""
    return commands


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def test_the_readme_parser_reads_what_a_shell_would() -> None:
    text = (
        "```sh\npython3 -m venv .venv && . .venv/bin/activate && basso run\n"
        'curl -s localhost:5002/webhook -d \'{"type": "BASE_ENTRY",\n  "price": 52000}\'; basso status\n'
        'basso send exit --reason "make room"  # a comment\n# executed: closed\n'
        "basso backtest --trades A=a.csv \\\n               --json\n```\n"
    )
    assert readme_commands(text) == [
        Command(argv=("basso", "run"), shown=None, line="python3 -m venv .venv && . .venv/bin/activate && basso run"),
        Command(
            argv=("basso", "status"),
            shown=None,
            line='curl -s localhost:5002/webhook -d \'{"type": "BASE_ENTRY", "price": 52000}\'; basso status',
        ),
        Command(
            argv=("basso", "send", "exit", "--reason", "make room"),
            shown="executed: closed",
            line='basso send exit --reason "make room" # a comment',
        ),
        Command(
            argv=("basso", "backtest", "--trades", "A=a.csv", "--json"),
            shown=None,
            line="basso backtest --trades A=a.csv --json",
        ),
    ]


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """A working directory outside pytest's private (0700) tree: the embedded PostgreSQL runs as an
    unprivileged user under root and must reach its data directory. `tests/data` is linked in."""
    path = Path(tempfile.mkdtemp(prefix="basso-readme-"))
    path.chmod(0o755)
    try:
        (path / "tests").mkdir()
        (path / "tests" / "data").symlink_to(ROOT / "tests" / "data")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _wait_serving(process: asyncio.subprocess.Process, log: list[str]) -> None:
    assert process.stderr is not None
    while line := (await process.stderr.readline()).decode():
        log.append(line)
        if "serving on" in line:
            return
    raise AssertionError("basso run exited before serving:\n" + "".join(log))


async def _drain(process: asyncio.subprocess.Process, log: list[str]) -> None:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        log.append(line.decode())


async def _wait_leading(url: str, limit_s: float) -> None:
    """Until /leader answers 200 (each check an HTTP round trip, bounded by `limit_s`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/leader") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)  # a separate process is electing itself; nothing here to wait on
    raise AssertionError(f"no leader at {url} within {limit_s} s")


async def _run(argv: tuple[str, ...], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basso.cli",
        *argv[1:],
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.timeout(900)
async def test_every_basso_command_in_the_readme_runs_as_written() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    servers = [c for c in commands if c.argv[:2] == ("basso", "run")]
    assert [c.argv for c in servers] == [("basso", "run")], "teach this test to run another `basso run` form"
    others = [c for c in commands if c.argv[:2] != ("basso", "run")]
    names = {c.argv[1] for c in others}
    assert {"send", "status", "backtest", "size", "contract"} <= names  # the parser found the README's commands
    with scratch_directory() as directory:
        port = free_port()
        (directory / "basso.toml").write_text(f"[server]\nport = {port}\n", encoding="utf-8")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("BASSO_DATABASE_URL", "BASSO_REDIS_URL", "BASSO_WEBHOOK_SECRET", "BASSO_ADMIN_TOKEN")
        }
        env["BASSO_CONFIG"] = str(directory / "basso.toml")
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "basso.cli",
            *servers[0].argv[1:],
            cwd=directory,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        log: list[str] = []
        drain: asyncio.Task[None] | None = None
        try:
            await asyncio.wait_for(_wait_serving(server, log), 180)
            drain = asyncio.create_task(_drain(server, log))
            await _wait_leading(f"http://127.0.0.1:{port}", 60)
            for command in others:
                status, out, err = await _run(command.argv, directory, env)
                assert status == 0, f"{command.line}\nexit {status}\nstdout: {out}\nstderr: {err}"
                if command.argv[1] == "send" and command.shown is not None:
                    assert command.shown in out, f"{command.line}\nshown in the README: {command.shown}\ngot: {out}"
            assert (directory / "report" / "report.html").is_file()  # the backtest's --out report/
        finally:
            if server.returncode is None:
                server.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(server.wait(), 60)
                except TimeoutError:
                    server.kill()
                    await server.wait()
            if drain is not None:
                await drain
