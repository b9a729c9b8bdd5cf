"""The router's httpx transport (a keep-alive pool on httptools) against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from lf_router_hybrid.service.transport import pooled_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server in this event loop; yields its URL and a list that counts connections."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request: its head and its body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"content-length:" in lower:
        start = lower.index(b"content-length:") + 15
        length = int(lower[start : lower.index(b"\r\n", start)])
        return head, await reader.readexactly(length)
    if b"transfer-encoding: chunked" in lower:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                return head, body
    return head, b""


def client(**limits: int | float) -> httpx.AsyncClient:
    options = {"max_connections": 10, "max_keepalive_connections": 10, "keepalive_expiry": 30.0, **limits}
    return pooled_client(httpx.Limits(**options), httpx.Timeout(5.0))  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _head, body = await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    async with raw_server(handler) as (url, connections), client() as c:
        for i in range(20):
            response = await c.post(f"{url}/echo", content=f"body {i}".encode())
            assert response.status_code == 200 and response.text == f"body {i}"
        assert len(connections) == 1


async def test_chunked_and_until_close_bodies_and_headers():
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 201 Created\r\nX-Thing: a\r\nX-Thing: b\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"hello ", b"chunked ", b"world"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await read_request(reader)  # keep-alive: a second request on the same connection
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nno length, ends when the connection does")
        await writer.drain()

    async with raw_server(chunked) as (url, connections), client() as c:
        response = await c.get(f"{url}/")
        assert response.status_code == 201 and response.text == "hello chunked world"
        assert response.headers.get_list("x-thing") == ["a", "b"]
        assert (await c.get(f"{url}/")).status_code == 204
        assert len(connections) == 1
    async with raw_server(until_close) as (url, connections), client() as c:
        for _ in range(2):
            response = await c.get(f"{url}/")
            assert response.text == "no length, ends when the connection does"
        assert len(connections) == 2  # not reusable


async def test_streamed_response_arrives_piece_by_piece():
    gate = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"6\r\nfirst\n\r\n")
        await writer.drain()
        await gate.wait()  # the rest only once the client saw the first piece
        writer.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
        await writer.drain()

    async with raw_server(handler) as (url, _), client() as c, c.stream("GET", f"{url}/") as response:
        pieces = response.aiter_raw()
        assert await pieces.__anext__() == b"first\n"
        gate.set()
        assert [p async for p in pieces] == [b"second\n"]


async def test_request_bodies_streamed_with_chunked_encoding():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        assert b"transfer-encoding: chunked" in head.lower()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"", b"two ", b"three"):
            yield part

    async with raw_server(handler) as (url, _), client() as c:
        response = await c.post(f"{url}/", content=parts())
        assert response.text == "one two three"


async def test_large_body_with_back_pressure():
    size = 5 * (1 << 20)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()

    async with raw_server(handler) as (url, _), client() as c, c.stream("GET", f"{url}/") as response:
        await asyncio.sleep(0.2)  # let the server fill the buffers: reading must pause, not grow without bound
        total = 0
        async for piece in response.aiter_raw():
            total += len(piece)
        assert total == size


async def test_stale_idle_connection_is_replaced_transparently():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # then close the idle keep-alive connection without saying so in the response

    async with raw_server(handler) as (url, connections), client() as c:
        assert (await c.get(f"{url}/")).text == "ok"
        await asyncio.sleep(0.1)
        assert (await c.post(f"{url}/", content=b"again")).text == "ok"
        assert len(connections) == 2


async def test_errors_are_httpx_errors():
    from lf.testing import free_port

    async with client() as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(f"http://127.0.0.1:{free_port()}/")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"this is not http\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with raw_server(silent) as (url, _), client() as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{url}/", timeout=httpx.Timeout(5.0, read=0.2))
    async with raw_server(hang_up) as (url, _), client() as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(f"{url}/")
    async with raw_server(garbage) as (url, _), client() as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(f"{url}/")


async def test_pool_limit_queues_requests_and_pool_timeout():
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with raw_server(handler) as (url, connections), client(max_connections=2) as c:
        tasks = [asyncio.create_task(c.get(f"{url}/")) for _ in range(6)]
        await asyncio.sleep(0.2)
        with pytest.raises(httpx.PoolTimeout):
            await c.get(f"{url}/", timeout=httpx.Timeout(5.0, pool=0.1))
        release.set()
        assert [r.text for r in await asyncio.gather(*tasks)] == ["ok"] * 6
        assert len(connections) == 2


async def test_against_an_lf_server_streaming_and_not(helpers):
    with helpers.echo_thread(model="m", token_delay=0.0) as (url, backend):
        async with client() as c:
            body = {"model": "m", "messages": [{"role": "user", "content": "one two three"}]}
            response = await c.post(f"{url}/v1/chat/completions", json=body)
            assert response.json()["choices"][0]["message"]["content"] == "one two three "
            async with c.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}) as stream:
                text = b"".join([piece async for piece in stream.aiter_raw()])
            assert text.count(b"data: ") == 6 and text.endswith(b"data: [DONE]\n\n")
            assert (await c.get(f"{url}/v1/models")).json()["data"][0]["id"] == "m"
        assert backend.finished == 2
