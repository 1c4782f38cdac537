"""A fake Telegram Bot API on a real socket: `POST /bot<token>/sendMessage` answered as Telegram does, every
message kept; it can also fail (HTTP 500) or hang (never answer) to play a service that is down or slow. It
also answers apprise's generic `json://` service at `/notify`.

Apprise has no setting for Telegram's host (its plugin posts to the class attribute `notify_url`,
`https://api.telegram.org/bot`), so `point_at` sets that attribute on each of our plugin objects: the URL is
still a real `tgram://` URL and the request is built by apprise's own Telegram code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from basso.notifications import Targets

TOKEN = "123456789:AAfakeFakeFakeFakeFakeFakeFakeFake"
CHAT = "4242"
URL = f"tgram://{TOKEN}/{CHAT}"


class FakeTelegram:
    """What the bot was asked to send (`messages`), and how it answers (`mode`: "ok", "fail" or "hang")."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.mode = "ok"
        self.arrived = asyncio.Event()  # set on each request
        self.requests = 0  # how many arrived, answered or not
        self._release = asyncio.Event()  # a hung request is answered (500) once this is set
        self.port = 0

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        body = await request.json()
        self.arrived.set()
        self.requests += 1
        if self.mode == "hang":
            await self._release.wait()
            return web.json_response({"ok": False, "description": "too late"}, status=500)
        if self.mode == "fail":
            return web.json_response(
                {"ok": False, "error_code": 500, "description": "Internal Server Error"}, status=500
            )
        self.messages.append(body)
        return web.json_response(
            {
                "ok": True,
                "result": {
                    "message_id": len(self.messages),
                    "chat": {"id": int(body["chat_id"])},
                    "text": body["text"],
                },
            }
        )

    async def _json(self, request: web.Request) -> web.Response:
        """Apprise's generic `json://` service (for a `basso run` process, whose Telegram host cannot be
        redirected): the same modes, messages kept as Telegram's are (`text`: title, new line, body)."""
        body = await request.json()
        self.arrived.set()
        self.requests += 1
        if self.mode == "hang":
            await self._release.wait()
            return web.json_response({}, status=500)
        if self.mode == "fail":
            return web.json_response({}, status=500)
        self.messages.append({"text": f"{body['title']}\n{body['message']}"})
        return web.json_response({})

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages]

    def point_at(self, targets: Targets) -> Targets:
        """Send `targets`' Telegram requests here."""
        for plugin in targets.plugins():
            plugin.notify_url = f"http://127.0.0.1:{self.port}/bot"
        return targets

    def release(self) -> None:
        """Answer every hung request (HTTP 500); requests from now on hang again while `mode` is "hang"."""
        self._release.set()
        self._release = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeTelegram]:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_post("/notify", self._json)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        try:
            yield self
        finally:
            self.release()
            await runner.cleanup()
