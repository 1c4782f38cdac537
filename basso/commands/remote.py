"""Talking to a running server: what `basso status` and the control commands share."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiohttp

from basso.cli import UsageError
from basso.commands.common import load_user_config

# A server bound to every interface is reached on this machine through loopback.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def add_server_arguments(parser: argparse.ArgumentParser, *, admin: bool) -> None:
    """--url, and for write commands the admin token's sources."""
    parser.add_argument(
        "--url",
        help="the server (default: [server] host and port of the configuration, http://127.0.0.1:5002 unless changed)",
    )
    if admin:
        parser.add_argument(
            "--token",
            help="the admin token (default: $BASSO_ADMIN_TOKEN, else the one "
            "`basso run` generated in DATA_DIR/admin-token)",
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            help="where `basso run` keeps its generated admin token (default: [server] data_dir "
            "of the configuration, basso-data unless changed)",
        )


def server_url(args: argparse.Namespace) -> str:
    """--url, else the address `basso run` serves on under the same configuration."""
    if args.url:
        return str(args.url).rstrip("/")
    server = load_user_config(args).server
    host = _WILDCARDS.get(server.host, server.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{server.port}"


def admin_token(args: argparse.Namespace) -> str:
    """--token, else $BASSO_ADMIN_TOKEN, else DATA_DIR/admin-token."""
    token = str(args.token or os.environ.get("BASSO_ADMIN_TOKEN", ""))
    if token:
        return token
    data_dir: Path = args.data_dir or load_user_config(args).server.data_dir
    path = data_dir / "admin-token"
    try:
        return path.read_text().strip()
    except OSError:
        raise UsageError(f"--token: none given, BASSO_ADMIN_TOKEN is unset and {path} cannot be read") from None


def call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    """One request to the server at --url: (status, decoded JSON reply); one line naming --url if none answers."""
    url = server_url(args)

    async def request() -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.request(method, f"{url}{path}", json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)

    try:
        return asyncio.run(request())
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        raise UsageError(f"--url: no Basso server answered at {url}: {exc or type(exc).__name__}") from None


def refused(status: int, reply: Any) -> UsageError:
    """The server's refusal as one line: its field and error, or the status."""
    if status == 401:
        return UsageError("--token: the server refused the admin token")
    if isinstance(reply, dict) and "error" in reply:
        return UsageError(f"{reply.get('field', 'server')}: {reply['error']}")
    return UsageError(f"the server answered {status}")


def accepted(status: int, reply: Any) -> dict[str, Any]:
    """The reply of a request the server carried out (200 and a JSON object); otherwise its refusal, one line."""
    if status != 200 or not isinstance(reply, dict):
        raise refused(status, reply)
    return reply
