"""What `basso run` checks before it starts anything: a user's mistake is one line, not a traceback after the
databases, migrations and the lease have all been started.

* the port is free to listen on (and the host is an address of this machine);
* no other Basso runs on the same data directory (it holds the embedded servers and the generated secrets):
  an exclusive lock on `DATA_DIR/basso.lock`, which holds the PID of its owner and is held until the process
  ends (the kernel lets go of it even after a SIGKILL, so a crash never leaves a stale lock behind);
* `--capital` on a database that already has its capital is said to be ignored (it is only the first
  deposit), pointing to `basso capital deposit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg

from basso.cli import UsageError
from basso.store.capital import ledger_has_rows

log = logging.getLogger(__name__)

LOCK_FILE = "basso.lock"


def check_port(host: str, port: int) -> None:
    """Refuse, in one line, a port another program listens on or a host that is not this machine's."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # As the server will bind: with SO_REUSEADDR, so only a listening socket makes the port busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise UsageError(_bind_problem(exc, host, port)) from None


def _bind_problem(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"--port: port {port} on {host} is already in use (another program listens there); stop it or "
            "choose another port with --port or [server] port"
        )
    if exc.errno == errno.EACCES:
        return f"--port: port {port} needs privileges this user does not have; use a port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host: {host} is not an address of this machine"
    return f"--port: cannot listen on {host}:{port}: {exc.strerror}"


@contextlib.contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the data directory for this process, or refuse in one line naming the Basso that holds it."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(f"--data-dir: cannot use {data_dir}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UsageError(
                f"--data-dir: another Basso (PID {owner}) is running on {data_dir}; stop it, or give "
                "this one its own --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing lets go of the lock


def capital_to_deposit(
    capital: Decimal, *, given: bool, default: Decimal, data_dir: Path, database_url: str
) -> Decimal:
    """The first deposit to book: `capital`, unless it was given (--capital) to a database that already has its
    capital, which is said once and ignored."""
    if not given:
        return capital
    where = _existing_database(data_dir, database_url)
    if where is None:
        return capital
    log.warning(
        "--capital %s is ignored: %s already has its capital (--capital is only the first deposit); "
        "add capital with `basso capital deposit AMOUNT` while Basso runs",
        capital,
        where,
    )
    return default


def _existing_database(data_dir: Path, database_url: str) -> str | None:
    if not database_url:
        # The embedded cluster exists once a first start has initialised it, and that start went on to book the
        # capital. Had it crashed before booking, [server] initial_capital is booked now: --capital is still
        # ignored, as the warning says.
        cluster = data_dir / "postgres"
        return f"the database in {cluster}" if (cluster / "PG_VERSION").exists() else None
    try:
        has_rows = asyncio.run(_ledger_has_rows(database_url))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None  # unreachable now: `basso run` itself says so, and retries
    return "the configured database (BASSO_DATABASE_URL or [server] database_url)" if has_rows else None


async def _ledger_has_rows(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        return await ledger_has_rows(conn)
    finally:
        await conn.close()
