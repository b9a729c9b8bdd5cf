"""The router's httpx transport for plain-HTTP upstreams: a keep-alive pool with a C parser.

The router talks to its replicas through one :class:`httpx.AsyncClient` (its API, request
and response models, timeouts and errors). Under it, :class:`PooledHTTP1Transport` replaces
httpcore for ``http://`` URLs: connections are asyncio protocols whose responses are
parsed by ``httptools`` (the C parser uvicorn uses), and the pool keeps idle connections in
a stack per origin. Measured here with the same client and upstream, httpcore's pool and
h11 cost about three times the CPU per forwarded request (its pool scans every connection
for every request, and h11 parses in Python) - most of the router's own cost. ``https://``
URLs (and HEAD requests) keep httpx's standard transport.

What it does: HTTP/1.1 keep-alive with at most ``max_connections`` open connections (more
requests wait, up to the pool timeout), ``max_keepalive_connections`` idle ones kept for
``keepalive_expiry`` seconds; request bodies as bytes or streams (chunked when their length
is unknown); streamed responses with back-pressure (reading pauses when a megabyte waits
unread); httpx's connect/read/write/pool timeouts and exceptions. A request that fails on a
reused idle connection before any byte came back (the server closed it meanwhile) is sent
once more on a fresh connection, as browsers do.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http.cookiejar
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lf.serve.limits import wake_oldest
from lf_router_hybrid.service.http1_connection import Connection, Origin, timeout_after


class _Body(httpx.AsyncByteStream):
    """A response body read from its connection; closing it hands the connection back."""

    def __init__(self, pool: _Pool, conn: Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        self._timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                data = await self._conn.chunk(self._timeout)
            except BaseException:
                self._release(False)
                raise
            if data is None:
                break
            yield data
        self._release(True)

    def _release(self, finished: bool) -> None:
        if not self._released:
            self._released = True
            conn = self._conn
            self._pool.release(conn, finished and conn.complete and conn.keep_alive and not conn.until_close)

    async def aclose(self) -> None:
        """Give the connection back (closed unless the whole body was read)."""
        self._release(self._conn.complete and not self._conn.chunks)


class _Pool:
    """Idle connections per origin (a stack) under one limit on open connections."""

    def __init__(self, max_connections: int, max_keepalive: int, keepalive_expiry: float | None) -> None:
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self.idle: dict[Origin, list[Connection]] = {}
        self.open = 0
        self.idle_count = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, origin: Origin, timeouts: dict[str, float | None]) -> Connection:
        """An idle connection to ``origin``, else a new one (waiting for room up to the pool timeout)."""
        deadline = None if timeouts.get("pool") is None else time.monotonic() + float(timeouts["pool"] or 0)
        while True:
            conn = self._idle_connection(origin)
            if conn is not None:
                return conn
            if self.open >= self.max_connections and self.idle_count:
                self._evict_one()
            if self.open < self.max_connections:
                return await self._connect(origin, timeouts.get("connect"))
            await self._wait(deadline)

    def _idle_connection(self, origin: Origin) -> Connection | None:
        stack = self.idle.get(origin)
        now = time.monotonic()
        while stack:
            conn = stack.pop()
            conn.idle = False
            self.idle_count -= 1
            expired = self.keepalive_expiry is not None and now - conn.idle_since > self.keepalive_expiry
            if conn.closed or expired:
                self._drop(conn)
                continue
            conn.reused = True
            return conn
        return None

    def _evict_one(self) -> None:
        """Close the longest-idle connection to make room for another origin."""
        oldest: tuple[float, Origin] | None = None
        for origin, stack in self.idle.items():
            if stack and (oldest is None or stack[0].idle_since < oldest[0]):
                oldest = (stack[0].idle_since, origin)
        if oldest is not None:
            conn = self.idle[oldest[1]].pop(0)
            conn.idle = False
            self.idle_count -= 1
            self._drop(conn)

    async def _connect(self, origin: Origin, timeout: float | None) -> Connection:
        self.open += 1
        loop = asyncio.get_running_loop()
        try:
            async with timeout_after(timeout):
                _, conn = await loop.create_connection(lambda: Connection(origin, self), origin[0], origin[1])
        except TimeoutError:
            self._closed_one()
            raise httpx.ConnectTimeout(f"Timed out connecting to {origin[0]}:{origin[1]}.") from None
        except OSError as exc:
            self._closed_one()
            raise httpx.ConnectError(f"Cannot connect to {origin[0]}:{origin[1]}: {exc.strerror or exc}") from None
        except BaseException:
            self._closed_one()
            raise
        return conn

    async def _wait(self, deadline: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            async with timeout_after(timeout):
                await waiter
        except TimeoutError:
            raise httpx.PoolTimeout("No connection became free in time.") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _notify(self) -> None:
        wake_oldest(self._waiters)

    def _drop(self, conn: Connection) -> None:
        conn.close()
        self._closed_one()

    def _closed_one(self) -> None:
        self.open -= 1
        self._notify()

    def release(self, conn: Connection, reusable: bool) -> None:
        """Keep ``conn`` for the next request to its origin, or close it."""
        if reusable and not conn.closed and self.idle_count < self.max_keepalive:
            conn.idle_since = time.monotonic()
            conn.idle = True
            self.idle.setdefault(conn.origin, []).append(conn)
            self.idle_count += 1
            self._notify()
        else:
            self._drop(conn)

    def forget(self, conn: Connection) -> None:
        """An idle connection closed by the server: out of the pool, its place free."""
        stack = self.idle.get(conn.origin)
        if stack is not None and conn in stack:
            stack.remove(conn)
            conn.idle = False
            self.idle_count -= 1
            if not stack:
                del self.idle[conn.origin]
            self._closed_one()

    def prune(self) -> int:
        """Close idle connections past their keep-alive time; returns how many."""
        if self.keepalive_expiry is None:
            return 0
        limit = time.monotonic() - self.keepalive_expiry
        expired = [c for stack in self.idle.values() for c in stack if c.idle_since < limit]
        for conn in expired:
            self.forget(conn)
            conn.close()
        return len(expired)

    def close_all(self) -> None:
        """Close every idle connection (busy ones close when their response does)."""
        for stack in self.idle.values():
            for conn in stack:
                conn.idle = False
                conn.close()
        self.idle.clear()
        self.idle_count = 0


class PooledHTTP1Transport(httpx.AsyncBaseTransport):
    """An httpx transport for ``http://`` URLs on :class:`_Pool` (HEAD requests use httpx's own)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = _Pool(
            limits.max_connections or 1_000_000,
            limits.max_keepalive_connections if limits.max_keepalive_connections is not None else 1_000_000,
            limits.keepalive_expiry,
        )
        self._fallback = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the response with its body still streaming."""
        if request.url.scheme != "http" or request.method == "HEAD":
            return await self._fallback.handle_async_request(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        origin = (request.url.host, request.url.port or 80)
        head, body = _serialize(request)
        for attempt in range(2):
            conn = await self._pool.acquire(origin, timeouts)
            conn.begin()
            try:
                await conn.write(head + body if body is not None else head, timeouts.get("write"))
                if body is None:
                    await _write_stream(conn, request, timeouts.get("write"))
                status = await conn.response(timeouts.get("read"))
            except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError) as exc:
                stale = conn.reused and not conn.got_bytes and body is not None
                self._pool.release(conn, False)
                if stale and attempt == 0:
                    continue
                raise type(exc)(str(exc), request=request) from None
            except BaseException:
                self._pool.release(conn, False)
                raise
            return httpx.Response(
                status,
                headers=conn.headers,
                stream=_Body(self._pool, conn, timeouts.get("read")),
                extensions={"http_version": b"HTTP/1.1"},
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def prune(self) -> int:
        """Close idle connections past their keep-alive time (the router calls it periodically)."""
        return self._pool.prune()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        self._pool.close_all()
        await self._fallback.aclose()


def _serialize(request: httpx.Request) -> tuple[bytes, bytes | None]:
    """The request line and headers, and the body when it is in memory (None: a stream to send)."""
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += [name, b": ", value, b"\r\n"]
    lines.append(b"\r\n")
    try:
        body: bytes | None = request.content
    except httpx.RequestNotRead:
        body = None
    return b"".join(lines), body


async def _write_stream(conn: Connection, request: httpx.Request, timeout: float | None) -> None:
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    stream = request.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    async for data in stream:
        if not data:
            continue
        await conn.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data, timeout)
    if chunked:
        await conn.write(b"0\r\n\r\n", timeout)


class NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing: a proxy must never replay one user's cookies for another."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Ignore ``Set-Cookie``."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Ignore cookies."""


def pooled_client(
    limits: httpx.Limits, timeout: httpx.Timeout, transport: PooledHTTP1Transport | None = None
) -> httpx.AsyncClient:
    """The router's one httpx client: :class:`PooledHTTP1Transport` for ``http://``, httpx's own for ``https://``."""
    return httpx.AsyncClient(
        transport=transport or PooledHTTP1Transport(limits),
        mounts={"https://": httpx.AsyncHTTPTransport(limits=limits, trust_env=False)},
        limits=limits,
        timeout=timeout,
        cookies=NoCookies(),
        follow_redirects=False,
        trust_env=False,
    )
