"""The deploy files say what the code does: the exit statuses systemd must not restart on, and a container
health check that really asks a running Basso."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from basso.embedded import EmbeddedRedis, free_port
from basso.server import EXIT_CORRUPT_FACTS
from basso.supervisor import EXIT_ESCALATED
from tests.processes import running

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXIT_USAGE = 2  # basso.cli: a mistake in the configuration or the command line


def unit_setting(name: str) -> str:
    (value,) = re.findall(rf"^{name}=(.*)$", (DEPLOY / "basso.service").read_text(), re.MULTILINE)
    return str(value)


def test_systemd_restarts_after_a_crash_but_not_after_a_mistake_or_corrupt_facts() -> None:
    assert unit_setting("Restart") == "on-failure"  # covers EXIT_ESCALATED: a fresh process may do better
    assert set(unit_setting("RestartPreventExitStatus").split()) == {str(EXIT_USAGE), str(EXIT_CORRUPT_FACTS)}
    assert str(EXIT_ESCALATED) not in unit_setting("RestartPreventExitStatus").split()


def test_the_image_runs_as_its_own_user_in_a_data_directory_it_owns() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "useradd --system --home-dir /var/lib/basso --create-home basso" in dockerfile
    assert re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE) == ["basso"]
    assert re.findall(r"^WORKDIR (\S+)$", dockerfile, re.MULTILINE) == ["/var/lib/basso"]
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert json.loads(cmd)[-2:] == ["--data-dir", "/var/lib/basso"]


def health_checks() -> list[list[str]]:
    """The health check commands of the image and of compose's Basso services (JSON arrays in both files)."""
    (image,) = re.findall(r"^HEALTHCHECK .*? CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    (compose,) = re.findall(
        r"^ +test: (\[\"CMD\", \"python\".*\])$", (DEPLOY / "compose.yaml").read_text(), re.MULTILINE
    )
    return [json.loads(image), json.loads(compose)[1:]]  # compose's starts with "CMD"


async def exit_status(command: list[str], port: int) -> int:
    # The container's interpreter is `python`; here it is this one, and the port is the test's.
    argv = [sys.executable, *[part.replace("5002", str(port)) for part in command[1:]]]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_health_checks_pass_on_a_running_basso_and_fail_without_one(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    image, compose = health_checks()
    assert image == compose
    assert "/health/live" in image[-1]
    assert "/health/ready" in image[-1]
    assert await exit_status(image, free_port()) != 0  # nothing listens: unhealthy
    async with running(fresh_database, redis_server.url, tmp_path) as basso:
        async with asyncio.timeout(30):
            while True:  # ready once it has recovered as the leader; each look is an HTTP round trip
                async with basso.session.get(f"{basso.url}/health/ready") as response:
                    if response.status == 200:
                        break
        assert await exit_status(image, int(basso.url.rsplit(":", 1)[1])) == 0
        assert await basso.terminate() == 0
