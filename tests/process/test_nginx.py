"""deploy/nginx.conf, as shipped, in front of two `basso run` processes on one PostgreSQL and Redis.

The test rewrites only what must differ here (the upstream addresses, the listen port, a self-signed
certificate) and runs Debian's nginx on it: webhooks through the proxy reach either instance and survive the
leader's `kill -9` without a resend (nginx tries the live instance); a write only the leader may make
(capital) reaches the leader whichever instance nginx tries first, and is refused, writing nothing, while
nobody leads; /health/*, /leader and /metrics pass through; the sender's own X-Forwarded-For is replaced by
the address nginx saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest

from basso.embedded import EmbeddedRedis, free_port
from tests.process.test_takeover import lead
from tests.processes import SECRET, Instance, running
from tests.web.test_pipeline_chaos import stream

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ADMIN = {"Authorization": "Bearer admin"}
pytestmark = pytest.mark.timeout(240)


def templated(conf: str, first: int, second: int, port: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with this test's ports and certificate; every other line as shipped."""
    out = (
        conf.replace("10.0.0.11:5002", f"127.0.0.1:{first}")
        .replace("10.0.0.12:5002", f"127.0.0.1:{second}")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        .replace("/etc/letsencrypt/live/basso.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/basso.example.com/privkey.pem", str(key))
    )
    assert out.count("127.0.0.1:") == 5, "deploy/nginx.conf changed shape: update the template"
    return out


@contextlib.asynccontextmanager
async def nginx(directory: Path, first: int, second: int) -> AsyncIterator[str]:
    """nginx on deploy/nginx.conf in front of the two ports; yields its https URL."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    (directory / "basso.conf").write_text(templated(DEPLOY.read_text(), first, second, port, cert, key))
    # The main file of a Debian install, reduced to what a test directory needs; the site file is included as
    # /etc/nginx/conf.d/*.conf is.
    (directory / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {directory}/nginx.pid;\nerror_log stderr notice;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {directory}/body;\n"
        f"  proxy_temp_path {directory}/proxy;\n  include {directory}/basso.conf;\n}}\n"
    )
    checked = await asyncio.to_thread(
        subprocess.run,
        [NGINX, "-t", "-c", str(directory / "nginx.conf"), "-p", str(directory)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    process = await asyncio.create_subprocess_exec(
        NGINX,
        "-c",
        str(directory / "nginx.conf"),
        "-p",
        str(directory),
        "-g",
        "daemon off;",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        # The master logs "start worker process" once it listens and has forked its worker.
        while b"start worker process" not in (line := await asyncio.wait_for(process.stderr.readline(), 30)):
            assert line, "nginx exited before serving"
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def accepted_here(instance: Instance) -> float:
    """How many webhooks this instance accepted (its own /metrics)."""
    async with instance.session.get(f"{instance.url}/metrics") as response:
        text = await response.text()
    found = re.search(r'^basso_webhook_requests_total\{verdict="accepted"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_nginx_routes_webhooks_to_any_instance_and_writes_to_the_leader(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    settings = tmp_path / "basso.toml"
    settings.write_text("[signals]\nmax_age_s = 0\n\n[server]\nrate_limit_per_minute = 100000000\n")
    env = {"BASSO_CONFIG": str(settings)}
    bodies = [orjson.dumps({**body, "secret": SECRET}) for body in stream(random.Random(11))[:120]]
    async with (
        running(fresh_database, redis_server.url, tmp_path / "a", env) as first,
        running(fresh_database, redis_server.url, tmp_path / "b", env) as second,
    ):
        await lead(first)
        ports = [int(i.url.rsplit(":", 1)[1]) for i in (first, second)]
        async with (
            nginx(tmp_path, *ports) as proxy,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as client,
        ):

            async def post(path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
                async with client.post(f"{proxy}{path}", data=body, headers=headers) as response:
                    return response.status, await response.read()

            async def get(path: str) -> tuple[int, bytes]:
                async with client.get(f"{proxy}{path}") as response:
                    return response.status, await response.read()

            acknowledged: list[str] = []

            async def send(body: bytes) -> None:
                # TradingView resends a reply that is not 200; through nginx, not one needs resending.
                status, reply = await post("/webhook", body, {"X-Forwarded-For": "203.0.113.7"})
                assert status == 200, reply
                acknowledged.append(orjson.loads(reply)["signal_id"])

            # Health, leadership and metrics pass through.
            assert (await get("/health/live"))[0] == 200
            assert (await get("/health/ready"))[0] == 200
            assert await get("/leader") == (200, b'{"leader": true}')
            status, text = await get("/metrics")
            assert status == 200
            assert b"basso_event_loop_lag_seconds_bucket" in text
            assert (await get("/nowhere"))[0] == 404
            assert (await get("/"))[0] == 200  # the dashboard

            # Webhooks: nginx spreads them over both instances, round robin.
            for body in bodies[:40]:
                await send(body)
            assert await accepted_here(first) > 0
            assert await accepted_here(second) > 0
            sources = await _audited_sources(fresh_database)
            assert sources == {"127.0.0.1"}, "the sender's own X-Forwarded-For must be replaced by nginx's view"

            # Capital: the follower refuses it (503), nginx tries the leader; every one lands, whichever is first.
            async with second.session.post(
                f"{second.url}/api/capital", headers=ADMIN, json={"kind": "deposit", "amount": "1.00"}
            ) as direct:
                assert direct.status == 503  # what nginx has to route around
            for _ in range(4):
                status, reply = await post("/api/capital", b'{"kind": "deposit", "amount": "100.00"}', ADMIN)
                assert status == 200, reply
            status, _ = await post("/api/kill-switch", b'{"on": false, "reason": "test"}', ADMIN)
            assert status == 200

            # The leader dies mid-stream. Until the standby's lease attempt finds the dead leader's key expired
            # (its TTL, 3 s), nobody may write: a capital move is refused, by the standby's 503 or nginx's 502 for
            # the dead instance (whichever nginx tried last), and writes nothing (the count at the end).
            first.process.kill()
            await first.process.wait()
            status, reply = await post("/api/capital", b'{"kind": "deposit", "amount": "100.00"}', ADMIN)
            assert status in (502, 503), reply
            # Webhooks: nginx tries the live instance when the dead one refuses the connection; none is resent.
            for body in bodies[40:]:
                await send(body)
            await lead(second)
            await asyncio.wait_for(second.wait_processed(acknowledged[-1]), 120)
            # Writes reach the new leader at the first attempt, whichever instance nginx tries first.
            for _ in range(2):
                status, reply = await post("/api/capital", b'{"kind": "deposit", "amount": "100.00"}', ADMIN)
                assert status == 200, reply

    conn = await asyncpg.connect(fresh_database)
    try:
        rows = await conn.fetch("SELECT key, outcome FROM signals")
        deposits = await conn.fetchval("SELECT count(*) FROM ledger WHERE kind = 'deposit' AND note = 'deposit'")
    finally:
        await conn.close()
    assert sorted(r["key"] for r in rows) == sorted(set(acknowledged))
    assert len(rows) == 120
    assert all(r["outcome"] not in ("pending", "dead") for r in rows)
    # Four before the kill and two after the takeover, each once; the one refused while nobody led wrote nothing.
    assert deposits == 4 + 2


async def _audited_sources(database_url: str) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return {r["source"] for r in await conn.fetch("SELECT DISTINCT source FROM webhook_audit")}
    finally:
        await conn.close()
