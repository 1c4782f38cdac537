"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol with aiohttp websockets.

Just enough of the protocol to open a page, wait for its load event and evaluate JavaScript in it, so a test
can see what a user's browser sees: whether the images decoded and what the tables say.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")


class Browser:
    """One browser-level DevTools websocket; `open_page` returns the page's session id once it has loaded."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        """Send one command and return its result; events that arrive meanwhile are kept for `wait_event`."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self._socket.send_str(json.dumps(message))
        while True:
            reply = json.loads(await self._socket.receive_str())
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    async def wait_event(self, method: str, session: str) -> dict[str, Any]:
        """The first event `method` of `session`, already received or still to come."""
        for event in self._events:
            if event.get("method") == method and event.get("sessionId") == session:
                self._events.remove(event)
                return event
        while True:
            arrived: dict[str, Any] = json.loads(await self._socket.receive_str())
            if arrived.get("method") == method and arrived.get("sessionId") == session:
                return arrived

    async def open_page(self, url: str) -> str:
        """A new tab showing `url`, after its load event; its session id."""
        target = await self.call("Target.createTarget", {"url": "about:blank"})
        attached = await self.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        session: str = attached["sessionId"]
        await self.call("Page.enable", session=session)
        await self.call("Page.navigate", {"url": url}, session=session)
        await self.wait_event("Page.loadEventFired", session)
        return session

    async def set_width(self, session: str, width: int, height: int = 900) -> None:
        """Lay the page out in a window `width` CSS pixels wide (at one device pixel each)."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )

    async def screenshot(self, session: str, path: Path) -> tuple[int, int]:
        """Write a PNG of the whole page (beyond the window) to `path`; its (width, height) in pixels."""
        metrics = await self.call("Page.getLayoutMetrics", session=session)
        size = metrics["cssContentSize"]
        width, height = int(size["width"]), int(size["height"])
        shot = await self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
            session=session,
        )
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return width, height

    async def evaluate(self, session: str, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited) in the page of `session`."""
        result = await self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


@asynccontextmanager
async def headless_chromium(profile: Path) -> AsyncIterator[Browser]:
    """A fresh headless Chromium with its own profile directory, stopped (and reaped) on exit."""
    executable = shutil.which("chromium")
    assert executable, "Chromium is missing: apt-get install -y chromium"
    process = await asyncio.create_subprocess_exec(
        executable,
        *FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    drain: asyncio.Task[None] | None = None
    try:
        url = await _devtools_url(process)
        # Keep reading stderr so a chatty browser never blocks on a full pipe.
        assert process.stderr is not None
        drain = asyncio.create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as socket:
            yield Browser(socket)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        if drain is not None:
            await drain


async def _devtools_url(process: asyncio.subprocess.Process) -> str:
    # Chromium prints the browser's websocket address on stderr once it listens: reading it is the handshake.
    assert process.stderr is not None
    seen = []
    while line := await process.stderr.readline():
        if match := _LISTENING.search(line):
            return match[1].decode()
        seen.append(line.decode(errors="replace").strip())
    raise RuntimeError("Chromium exited before listening: " + " | ".join(seen[-5:]))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass
