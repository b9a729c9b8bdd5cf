"""One keep-alive HTTP/1.1 connection of the router's upstream pool, parsed by ``httptools``.

A :class:`Connection` is an asyncio protocol: it writes one request at a time, parses the
response with the C parser uvicorn uses, buffers the body with back-pressure (reading
pauses past :data:`HIGH_WATER` unread bytes) and raises httpx's own exceptions, so the
pool (:mod:`lf_router_hybrid.service.transport`) and httpx above it need not know it is
not httpcore. ``pool`` is told (``pool.forget(conn)``) when the server closes an idle connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

if sys.version_info >= (3, 11):
    timeout_after = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def timeout_after(delay: float | None) -> AsyncIterator[None]:
        """``asyncio.timeout`` for Python 3.10: TimeoutError when ``delay`` passes."""
        if delay is None:
            yield
            return
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(delay, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError() from None
            raise
        finally:
            handle.cancel()


#: Unread response bytes past which the connection stops reading (back-pressure).
HIGH_WATER = 1 << 20
Origin = tuple[str, int]


class Connection(asyncio.Protocol):
    """One keep-alive connection to an origin; one request at a time."""

    def __init__(self, origin: Origin, pool: Any) -> None:
        self.origin = origin
        self.pool = pool
        self.idle = False
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self._writable: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.status: asyncio.Future[int] | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = True
        self.until_close = False
        self.got_bytes = False
        self.error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Connected: keep the transport; no Nagle delay."""
        self.transport = transport  # type: ignore[assignment] # uvloop's transports are not asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a malformed response fails the request and closes the connection."""
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"Invalid HTTP response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        """The server closed its side: close ours too."""
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: fail what waits on it and leave the pool."""
        self.closed = True
        self.transport = None
        if self.idle:  # the server closed a kept-alive connection: forget it now
            self.pool.forget(self)
        if self.status is not None and not self.complete:
            if self.until_close and self.status.done():
                self.complete = True  # a body that ends when the connection does
                self._wake()
            elif not self.got_bytes:
                self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
            else:
                self._fail(httpx.RemoteProtocolError("Server disconnected before the response was complete."))
        if self._writable is not None and not self._writable.done():
            self._writable.set_exception(httpx.WriteError("Connection lost while writing."))

    def pause_writing(self) -> None:
        """The socket's buffer is full: writers wait."""
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """The socket's buffer drained: writers go on."""
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # --- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        """A response header."""
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The status line and headers are in: the response can be handed over."""
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # informational (103 Early Hints...): wait for the real response
            self.headers = []
            return
        self.keep_alive = bool(self.parser.should_keep_alive())
        names = {name.lower() for name, _ in self.headers}
        self.until_close = b"content-length" not in names and b"transfer-encoding" not in names
        self.until_close = self.until_close and status not in (204, 304)
        if self.status is not None and not self.status.done():
            self.status.set_result(status)

    def on_body(self, body: bytes) -> None:
        """A piece of the body; reading pauses past HIGH_WATER unread bytes."""
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        """The response is complete."""
        if self.status is None or not self.status.done():
            return  # the end of an informational response
        self.complete = True
        self._wake()

    # --- one exchange ---------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        self.error = error
        if self.status is not None and not self.status.done():
            self.status.set_exception(error)
        self._wake()

    def begin(self) -> None:
        """Prepare for a new response."""
        self._reset()
        self.status = asyncio.get_running_loop().create_future()

    async def write(self, data: bytes, timeout: float | None) -> None:
        """Send ``data``; wait when the socket's buffer is full."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("The connection is closed.")
        self.transport.write(data)
        if self._writable is not None:
            try:
                async with timeout_after(timeout):
                    await self._writable
            except TimeoutError:
                raise httpx.WriteTimeout("Timed out while sending the request.") from None

    async def response(self, timeout: float | None) -> int:
        """The status code, once the response headers are in."""
        assert self.status is not None
        try:
            async with timeout_after(timeout):
                return await self.status
        except TimeoutError:
            raise httpx.ReadTimeout("Timed out waiting for the response.") from None

    async def chunk(self, timeout: float | None) -> bytes | None:
        """The next piece of the body, or None at its end."""
        while True:
            if self.chunks:
                data = self.chunks.popleft()
                self.buffered -= len(data)
                if self._paused and self.buffered < HIGH_WATER // 4 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return data
            if self.error is not None:
                raise self.error
            if self.complete:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with timeout_after(timeout):
                    await self._waiter
            except TimeoutError:
                raise httpx.ReadTimeout("Timed out reading the response body.") from None
            finally:
                self._waiter = None

    def close(self) -> None:
        """Close the socket now."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
            self.transport = None
