"""A TCP proxy the tests can cut: the network between Basso and a real server (Redis, PostgreSQL) failing.

`cut()` drops every open connection and refuses new ones until `restore()`; the server behind it keeps
running, as a partitioned server does. `hold()` keeps the server's replies in the proxy until `release()`: a
slow network, with the server's work already done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_port` on loopback."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connected = True
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._replies = asyncio.Event()  # set while the server's replies flow
        self._replies.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for pipe in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await pipe

    def cut(self) -> None:
        """Drop every connection now and refuse new ones."""
        self.connected = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def hold(self) -> None:
        """Keep every reply from the server in the proxy (requests still reach the server)."""
        self._replies.clear()

    def release(self) -> None:
        """Deliver the replies held, and those to come."""
        self._replies.set()

    def restore(self) -> None:
        """Accept connections again."""
        self.connected = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.connected:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        for source, sink, replies in ((reader, upstream_writer, False), (upstream_reader, writer, True)):
            task = asyncio.create_task(self._pipe(source, sink, replies))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, replies: bool) -> None:
        try:
            while data := await source.read(65536):
                if replies:
                    await self._replies.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


@asynccontextmanager
async def proxy_to(target_port: int) -> AsyncIterator[TcpProxy]:
    """A started proxy to `target_port`, closed afterwards."""
    proxy = TcpProxy(target_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def through(proxy_port: int, url: str) -> str:
    """`url` (a database's, a server's) with its port replaced by the proxy's."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{host}:{proxy_port}"))
