"""Python clients of an ``lf`` expert router: which expert answers, and the answer.

``RouterClient`` (sync) and ``AsyncRouterClient`` are :class:`lf.client.InferenceClient`
and :class:`lf.client.AsyncInferenceClient` (same retries with backoff, same streaming,
same :mod:`lf.errors` classes) pointed at a router, with ``model="auto"`` by default and
the router's own endpoints::

    from lf.client import RouterClient

    with RouterClient("http://127.0.0.1:8080") as router:
        answer = router.chat("Fix the bug in my python function")
        print(answer["expert"], answer["text"])       # e.g. "code", the code expert's reply
        print(router.route("Who painted the Mona Lisa?")["expert"])   # the decision alone
        print([e["name"] for e in router.experts()])
        stream = router.stream_chat("Write a haiku")
        print("".join(stream), "- by", stream.expert)

Every answer carries the routing headers as fields: ``expert`` (``X-LF-Expert``),
``routing`` (``classified``, ``fallback``...), ``fallback_from`` (the expert that should
have answered when the fallback did) and ``routing_ms``. Imported lazily by ``lf.client``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from lf.client import AsyncInferenceClient, InferenceClient
from lf.client_wire import chat_messages, with_text

__all__ = ["AsyncRoutedStream", "AsyncRouterClient", "RoutedStream", "RouterClient", "routing_fields"]

#: Answer field <- router response header.
ROUTING_HEADERS = {
    "expert": "x-lf-expert",
    "routing": "x-lf-routing",
    "fallback_from": "x-lf-fallback-from",
    "routing_ms": "x-lf-routing-ms",
}


def routing_fields(headers: Any) -> dict[str, Any]:
    """``expert``, ``routing``, ``fallback_from`` and ``routing_ms`` from a router response's headers."""
    out: dict[str, Any] = {name: headers.get(header) for name, header in ROUTING_HEADERS.items()}
    if out["routing_ms"] is not None:
        try:
            out["routing_ms"] = float(out["routing_ms"])
        except ValueError:
            out["routing_ms"] = None
    return out


def _route_body(query: str | None, messages: list[dict[str, Any]] | None, exclude: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"exclude": list(exclude or [])}
    if query is not None:
        body["query"] = query
    if messages is not None:
        body["messages"] = messages
    return body


class _Routed:
    """The routing fields of a streamed answer, known once the router has answered (before the first piece)."""

    def __init__(self) -> None:
        self.expert: str | None = None
        self.routing: str | None = None
        self.fallback_from: str | None = None
        self.routing_ms: float | None = None

    def _headers(self, headers: Any) -> None:
        for name, value in routing_fields(headers).items():
            setattr(self, name, value)


class RoutedStream(_Routed):
    """A streamed answer: iterate for the text pieces; ``expert`` (and the other routing fields) once it started."""

    def __init__(self, start: Callable[[Callable[[Any], None]], Iterator[str]]) -> None:
        super().__init__()
        self._pieces = start(self._headers)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._pieces)


class AsyncRoutedStream(_Routed):
    """The asyncio twin of :class:`RoutedStream` (``async for piece in stream``)."""

    def __init__(self, start: Callable[[Callable[[Any], None]], AsyncIterator[str]]) -> None:
        super().__init__()
        self._pieces = start(self._headers)

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        return await self._pieces.__anext__()


class RouterClient(InferenceClient):
    """Synchronous router client: ``chat``/``generate`` (``model="auto"``) with the expert, ``route``, ``experts``.

    Takes :class:`lf.client.InferenceClient`'s arguments; ``model`` defaults to ``"auto"``
    (the router chooses); pass an expert's name to skip classification.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8080", **kwargs: Any) -> None:
        kwargs.setdefault("model", "auto")
        super().__init__(base_url, **kwargs)

    def __enter__(self) -> RouterClient:
        return self

    def route(
        self,
        query: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        exclude: list[str] | None = None,
    ) -> dict[str, Any]:
        """``POST /route``: the expert a query would go to (confidence, alternatives), without generating."""
        return dict(self._request("POST", "/route", _route_body(query, messages, exclude)))

    def experts(self) -> list[dict[str, Any]]:
        """``GET /experts``: every expert with its replicas, their state and the router's statistics."""
        return list(self._request("GET", "/experts")["experts"])

    def expert(self, name: str) -> dict[str, Any]:
        """``GET /experts/NAME`` (``ModelNotFoundError`` when there is none)."""
        return dict(self._request("GET", f"/experts/{name}"))

    def chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """A routed chat completion: OpenAI's fields, ``text``, and ``expert``/``routing``/``fallback_from``."""
        body = self._body(model, False, {"messages": chat_messages(message, messages, system), **params})
        response = self._send("POST", "/v1/chat/completions", body)
        return {**with_text(response.json(), chat=True), **routing_fields(response.headers)}

    def generate(self, prompt: str, *, model: str | None = None, **params: Any) -> dict[str, Any]:
        """A routed text completion, with the expert that wrote it."""
        response = self._send("POST", "/v1/completions", self._body(model, False, {"prompt": prompt, **params}))
        return {**with_text(response.json(), chat=False), **routing_fields(response.headers)}

    def stream_chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> RoutedStream:
        """The routed chat answer piece by piece; the stream's ``expert`` says who writes it."""
        body = self._body(model, True, {"messages": chat_messages(message, messages, system), **params})
        return RoutedStream(lambda on_headers: self._stream("/v1/chat/completions", body, True, on_headers))

    def stream_generate(self, prompt: str, *, model: str | None = None, **params: Any) -> RoutedStream:
        """The routed completion piece by piece, with ``expert`` on the stream."""
        body = self._body(model, True, {"prompt": prompt, **params})
        return RoutedStream(lambda on_headers: self._stream("/v1/completions", body, False, on_headers))


class AsyncRouterClient(AsyncInferenceClient):
    """The asyncio twin of :class:`RouterClient` (same arguments and methods, awaited)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", **kwargs: Any) -> None:
        kwargs.setdefault("model", "auto")
        super().__init__(base_url, **kwargs)

    async def __aenter__(self) -> AsyncRouterClient:
        return self

    async def route(
        self,
        query: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        exclude: list[str] | None = None,
    ) -> dict[str, Any]:
        """``POST /route`` (see :meth:`RouterClient.route`)."""
        return dict(await self._request("POST", "/route", _route_body(query, messages, exclude)))

    async def experts(self) -> list[dict[str, Any]]:
        """``GET /experts``."""
        return list((await self._request("GET", "/experts"))["experts"])

    async def expert(self, name: str) -> dict[str, Any]:
        """``GET /experts/NAME``."""
        return dict(await self._request("GET", f"/experts/{name}"))

    async def chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """A routed chat completion with the expert (see :meth:`RouterClient.chat`)."""
        body = self._body(model, False, {"messages": chat_messages(message, messages, system), **params})
        response = await self._send("POST", "/v1/chat/completions", body)
        return {**with_text(response.json(), chat=True), **routing_fields(response.headers)}

    async def generate(self, prompt: str, *, model: str | None = None, **params: Any) -> dict[str, Any]:
        """A routed text completion with the expert."""
        response = await self._send("POST", "/v1/completions", self._body(model, False, {"prompt": prompt, **params}))
        return {**with_text(response.json(), chat=False), **routing_fields(response.headers)}

    def stream_chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> AsyncRoutedStream:
        """The routed chat answer piece by piece (``async for``); the stream's ``expert`` says who writes it."""
        body = self._body(model, True, {"messages": chat_messages(message, messages, system), **params})
        return AsyncRoutedStream(lambda on_headers: self._stream("/v1/chat/completions", body, True, on_headers))

    def stream_generate(self, prompt: str, *, model: str | None = None, **params: Any) -> AsyncRoutedStream:
        """The routed completion piece by piece (``async for``), with ``expert`` on the stream."""
        body = self._body(model, True, {"prompt": prompt, **params})
        return AsyncRoutedStream(lambda on_headers: self._stream("/v1/completions", body, False, on_headers))
