"""An agency API on 127.0.0.1 that misbehaves on demand, the way real agency systems do.

It sits in front of the demo trust's real API: in ``ok`` mode it passes each
request through; in the other modes it hangs, fails, sends garbage, cuts the
body short, sends far too much, or stops listening (connection refused). It
speaks raw HTTP/1.1 over asyncio streams so that every fault is a real one on
the wire, not a mock inside the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import aiohttp

MODES = ("ok", "hang", "error_500", "garbage", "truncated", "huge")


@dataclass
class FaultStats:
    """What the server saw: requests received and the most in flight at once."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    paths: list[str] = field(default_factory=list)


class FaultyAgency:
    """A misbehaving HTTP agency forwarding to ``upstream`` when healthy."""

    def __init__(self, upstream: str, *, huge_bytes: int = 50 * 1024 * 1024) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "ok"
        self.huge_bytes = huge_bytes
        self.stats = FaultStats()
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._release = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL the agency file should name."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (on ``port``, or a free one); returns the base URL."""
        self._session = self._session or aiohttp.ClientSession()
        self._release.clear()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def refuse(self) -> None:
        """Stop listening: new connections are refused, as when the agency's host is down."""
        if self._server is not None:
            self._server.close()
            self._release.set()
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        """Stop listening and let hung requests go."""
        await self.refuse()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.requests += 1
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            self.stats.paths.append(target)
            await self._answer(target, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the gateway gave up on us: that is its right
        finally:
            self.stats.in_flight -= 1
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def _answer(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        mode = self.mode
        if mode == "hang":
            # Ten seconds, as a stuck agency would, unless the gateway hangs up first
            # (the read ends) or the test ends.
            waits = {
                asyncio.ensure_future(self._release.wait()),
                asyncio.ensure_future(reader.read(1)),
            }
            await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            return
        if mode == "error_500":
            await _respond(writer, 500, b'{"error": "internal"}')
            return
        if mode == "garbage":
            await _respond(writer, 200, b'{"people": [{"id": "x", <html>oops</html>')
            return
        if mode == "truncated":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 5000\r\nConnection: close\r\n\r\n"
                b'{"people": [{"id": "'
            )
            await writer.drain()
            return  # closing now leaves the body 4,980 bytes short
        if mode == "huge":
            # No Content-Length: the gateway must count the bytes as they come.
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\n\r\n"
                b'{"people": [], "padding": "'
            )
            chunk = b"x" * (1024 * 1024)
            for _ in range(self.huge_bytes // len(chunk)):
                writer.write(chunk)
                await writer.drain()
            writer.write(b'"}')
            await writer.drain()
            return
        assert self._session is not None
        async with self._session.get(self.upstream + target) as upstream:
            body = await upstream.read()
            await _respond(writer, upstream.status, body)


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = {200: "OK", 500: "Internal Server Error"}.get(status, "Status")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
