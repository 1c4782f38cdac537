"""The Dask engine for real: a `dask scheduler` and a `dask worker` started here on loopback (real processes,
free ports), and Ctrl-C of `basso montecarlo` as a terminal sends it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import psutil
import pytest

from basso.cli import main
from tests.backtest.exports import BANK_NIFTY_EXPORT

DASK = Path(sys.executable).with_name("dask")
BANK_NIFTY = ["--trades", f"BANK_NIFTY={BANK_NIFTY_EXPORT}", "--multiplier", "BANK_NIFTY=35", "--commission", "0.001"]
READY_S = 60.0  # a cold start of the scheduler or worker on a loaded two-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Lines:
    """A process's stderr read line by line on a thread (a full pipe would block the process), so that waits
    for a line are bounded."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._stream = stream
        self._arrived = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._arrived:
                self.seen.append(line)
                self._arrived.notify_all()
        with self._arrived:
            self._ended = True
            self._arrived.notify_all()

    def wait_for(self, marker: str, timeout_s: float) -> None:
        """Until a line contains `marker`; fails after `timeout_s` or if the stream ends first."""
        with self._arrived:
            found = self._arrived.wait_for(lambda: self._ended or any(marker in line for line in self.seen), timeout_s)
            assert found, f"no {marker!r} within {timeout_s} s: {''.join(self.seen[-5:])}"
            assert any(marker in line for line in self.seen), f"ended before {marker!r}: {''.join(self.seen[-5:])}"

    def close(self) -> None:
        """After the process has exited: the rest read, the pipe closed."""
        self._reader.join(timeout=10)
        self._stream.close()


@contextmanager
def started(argv: list[str], marker: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stderr is not None
    lines = Lines(process.stderr)
    try:
        lines.wait_for(marker, READY_S)
        yield process
    finally:
        stop(process, signal.SIGTERM)
        lines.close()


def stop(process: subprocess.Popen[str], how: signal.Signals) -> None:
    if process.poll() is None:
        os.killpg(process.pid, how)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(["montecarlo", *argv, "--json"]) == 0
    figures: dict[str, Any] = json.loads(capsys.readouterr().out)
    return figures


@pytest.mark.timeout(240)
def test_a_scheduler_address_runs_on_that_cluster_with_the_same_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    worker = [
        str(DASK),
        "worker",
        address,
        "--nworkers",
        "1",
        "--nthreads",
        "1",
        "--no-dashboard",
        "--host",
        "127.0.0.1",
        "--local-directory",
        str(tmp_path / "worker"),
    ]
    argv = [*BANK_NIFTY, "--runs", "1500", "--seed", "99"]
    with started(scheduler, "Scheduler at:"), started(worker, "Registered to:"):
        remote = run_json(capsys, [*argv, "--scheduler", address, "--out", str(tmp_path / "remote")])
    local = run_json(capsys, [*argv, "--workers", "1", "--out", str(tmp_path / "local")])
    assert remote == local
    assert (tmp_path / "remote" / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()


def test_workers_and_a_scheduler_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["montecarlo", *BANK_NIFTY, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--workers: the cluster at --scheduler has its own workers" in capsys.readouterr().err


@pytest.mark.timeout(180)
def test_ctrl_c_cancels_the_clusters_work_and_leaves_no_process_behind(tmp_path: Path) -> None:
    # A million runs take minutes; Ctrl-C (SIGINT to the whole process group, as a terminal sends it) must stop
    # the command, its local cluster and every worker process within the bound, writing nothing.
    out = tmp_path / "never"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "basso.cli",
            "montecarlo",
            *BANK_NIFTY,
            "--runs",
            "1000000",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    lines = Lines(process.stderr)
    try:
        lines.wait_for(" tasks on a local cluster", READY_S)
        group = [p for p in psutil.process_iter() if _group_of(p) == process.pid]
        assert len(group) >= 3  # the command, and at least a nanny and a worker of its local cluster
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130, "".join(lines.seen)
        lines.close()
        assert any("cancelled after" in line and "nothing written" in line for line in lines.seen), lines.seen
        assert not any("Traceback" in line for line in lines.seen), "".join(lines.seen)
        assert not out.exists()
        # Nothing of the cluster outlives the command (psutil waits on processes that are not our children).
        _, alive = psutil.wait_procs(group, timeout=30)
        assert alive == []
    finally:
        stop(process, signal.SIGKILL)
        lines.close()


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None
