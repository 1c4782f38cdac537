"""Chunks of work on Dask (`distributed`): a local cluster on this machine's cores, or an existing cluster.

The inputs (trades, bars) are scattered to every worker once, not sent with every task; each task is a chunk
of runs or configurations, so the per-task overhead (a few milliseconds) is paid per chunk. Results come
back in chunk order, whatever order the workers finish in. Ctrl-C cancels every task still queued or running
on the cluster and closes the local one; `Cancelled` then says how much was done.

Workers must import the same `basso` as the client: on a local cluster they do (they are this Python); on
your own cluster, install Basso in the workers' environment.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from distributed import Client, Future, LocalCluster, as_completed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["Cancelled", "Engine", "chunks", "open_engine"]

T = TypeVar("T")
R = TypeVar("R")

_CONNECT_TIMEOUT = "10s"
# The local cluster's own logs stay silent: a task's error reaches the client as the exception it raised, and a
# Ctrl-C would otherwise end in a page of "comm closed" messages from a scheduler being shut down on purpose.
_QUIET = logging.CRITICAL + 10
# The scheduler serves HTTP (health, metrics) whatever its dashboard: on a free loopback port, not on 8787, which
# another Dask on the machine may hold.
_HTTP = "127.0.0.1:0"


class Cancelled(Exception):
    """Ctrl-C during a job: the cluster's work was cancelled."""

    def __init__(self, done: int, total: int, unit: str) -> None:
        super().__init__(f"cancelled after {done:,} of {total:,} {unit}")
        self.done = done
        self.total = total


class Engine:
    """A Dask client and the number of workers behind it."""

    def __init__(self, client: Client, where: str) -> None:
        self.client = client
        self.where = where

    @property
    def workers(self) -> int:
        """How many workers the scheduler has now (at least 1, to size chunks)."""
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))

    def map(
        self,
        task: Callable[[Any, T], R],
        shared: Any,
        parts: Sequence[T],
        *,
        sizes: Sequence[int],
        unit: str,
        progress: bool,
    ) -> list[R]:
        """`task(shared, part)` for every part on the cluster, `shared` scattered once; results in part order.

        `sizes` says how many units (runs, configurations) each part is, for the progress bar."""
        handle: Future[Any] | None = None
        futures: list[Future[Any]] = []
        results: list[Any] = [None] * len(parts)
        total, done = sum(sizes), 0
        # Python raises a Ctrl-C's KeyboardInterrupt wherever the main thread is, and where it is inside a callback
        # (distributed's garbage-collector hook) it is printed and dropped: the flag keeps it for the next check.
        interrupted = threading.Event()
        previous = _on_ctrl_c(interrupted)
        try:
            [handle] = self.client.scatter([shared], broadcast=True, hash=False)
            futures = [self.client.submit(task, handle, part, pure=False) for part in parts]
            where = {future.key: k for k, future in enumerate(futures)}
            if progress:
                Console(stderr=True).print(
                    f"{total:,} {unit} in {len(parts)} tasks on {self.where}", markup=False, highlight=False
                )
            with _bar(progress, unit, total) as advance:
                for future in as_completed(futures, loop=self.client.loop):
                    if interrupted.is_set():
                        raise KeyboardInterrupt
                    k = where[future.key]
                    results[k] = future.result()  # a task's exception is raised here, in the client
                    done += sizes[k]
                    advance(sizes[k])
            if interrupted.is_set():
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.client.cancel(futures, force=True)
            raise Cancelled(done, total, unit) from None
        finally:
            _restore_ctrl_c(previous)
            if handle is not None:
                self.client.cancel([handle])
        return results


@contextmanager
def open_engine(scheduler: str | None, workers: int | None) -> Iterator[Engine]:
    """An engine on the scheduler at `scheduler` (tcp://host:8786), else on a local cluster of `workers`
    processes (default: this machine's cores), each one thread: the replay is pure Python, so processes are
    what run it in parallel."""
    if scheduler is not None:
        with Client(scheduler, timeout=_CONNECT_TIMEOUT, set_as_default=False) as client:
            yield Engine(client, f"the Dask cluster at {scheduler}")
        return
    count = workers or os.cpu_count() or 1
    with ExitStack() as stack:
        # Ctrl-C in a terminal signals the whole process group: the workers must leave it to this process, which
        # cancels their work and closes them. Ignored while they start, SIGINT stays ignored in them (an ignored
        # signal is inherited, and Python keeps it so). A Ctrl-C in those few seconds is not seen: press it again.
        ignored = _ignore_ctrl_c()
        try:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=count, threads_per_worker=1, processes=True, dashboard_address=_HTTP, silence_logs=_QUIET
                )
            )
        finally:
            _restore_ctrl_c(ignored)
        client = stack.enter_context(Client(cluster, set_as_default=False))
        yield Engine(client, f"a local cluster of {count} worker{'s' if count > 1 else ''}")


def _on_ctrl_c(interrupted: threading.Event) -> Any:
    """Ctrl-C sets `interrupted` and raises KeyboardInterrupt, as Python's own handler does; the previous handler
    (None off the main thread, where no handler can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, handler)


def _ignore_ctrl_c() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread sets signal handlers
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_ctrl_c(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def chunks(count: int, *, workers: int, per_worker: int, smallest: int, largest: int) -> list[range]:
    """`range(count)` cut into consecutive chunks: about `per_worker` per worker (so a slow worker does not hold
    up the end), each between `smallest` and `largest` units."""
    if count <= 0:
        return []
    size = max(smallest, min(largest, -(-count // (workers * per_worker))))
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


@contextmanager
def _bar(show: bool, unit: str, total: int) -> Iterator[Callable[[int], None]]:
    if not show:
        yield lambda _: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(unit, total=total)
        yield lambda n: bar.update(task, advance=n)
