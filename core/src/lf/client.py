"""Python clients of an ``lf`` inference server (or any OpenAI-compatible one).

``InferenceClient`` (sync) and ``AsyncInferenceClient`` speak the OpenAI wire format
over httpx, retry with exponential backoff on connection errors and timeouts (and on
429/503 answers, honouring Retry-After) and stream tokens as they arrive::

    from lf.client import InferenceClient

    client = InferenceClient("http://127.0.0.1:8000", api_key=None)
    print(client.chat("Write a haiku about GPUs", system="You are a poet")["text"])
    for piece in client.stream_chat("Count to five"):
        print(piece, end="", flush=True)

``RouterClient`` / ``AsyncRouterClient`` (:mod:`lf.client_router`) do the same against an
expert router, with ``model="auto"`` and the expert that answered (``X-LF-Expert``).

Errors are :mod:`lf.errors` classes built from the server's error code
(``AuthenticationError``, ``RateLimitedError``, ``ModelNotFoundError``...). Needs
``httpx`` (``pip install 'lf-core[client]'``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from lf import errors
from lf.client_wire import (
    RETRY_STATUSES,
    ClientBase,
    chat_messages,
    error_from_response,
    import_httpx,
    stream_delta_text,
    with_text,
)

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports them on first use
    from lf.client_router import AsyncRouterClient as AsyncRouterClient
    from lf.client_router import RouterClient as RouterClient

__all__ = [
    "RETRY_STATUSES",
    "AsyncInferenceClient",
    "AsyncRouterClient",
    "InferenceClient",
    "RouterClient",
    "error_from_response",
]


class InferenceClient(ClientBase):
    """Synchronous client: ``health``, ``models``, ``generate``, ``chat`` and their ``stream_*`` forms.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (a trailing ``/v1`` is fine).
        api_key: sent as ``Authorization: Bearer``.
        timeout: seconds per HTTP attempt.
        max_retries: retries after the first attempt, on connection errors, timeouts, 429 and 503.
        backoff: first delay in seconds; doubles each retry (with jitter) up to ``max_backoff``.
        model: default model name (otherwise the server's first model is used).
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._client = import_httpx().Client(base_url=self.base_url, timeout=self.timeout, headers=self._headers)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._send(method, path, body).json()

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call with retries and backoff; returns the successful ``httpx.Response``."""
        attempt = 0
        while True:
            try:
                response = self._client.request(method, path, json=body)
            except Exception as exc:
                if not self._retryable(exc) or attempt >= self.max_retries:
                    raise errors.RunError(f"Cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
                time.sleep(self._delay(attempt))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                time.sleep(self._delay(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise error_from_response(response.status_code, response.content)
            return response

    def _model(self, model: str | None) -> str:
        if model or self.model:
            return str(model or self.model)
        self.model = self.models()[0]["id"]
        return self.model

    def health(self) -> dict[str, Any]:
        """``GET /health`` (an unhealthy server answers 503: that is returned, not raised)."""
        response = self._client.get("/health")
        return dict(response.json())

    def ready(self) -> bool:
        """Whether ``GET /ready`` answers 200."""
        try:
            return bool(self._client.get("/ready").status_code == 200)
        except Exception:
            return False

    def wait_ready(self, timeout: float = 300.0, interval: float = 0.5) -> None:
        """Block until the server is ready (the model loaded), or raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise errors.RequestTimeoutError(f"{self.base_url} was not ready after {timeout:.0f}s.")
            time.sleep(interval)

    def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``: the base model and its LoRA adapters."""
        return list(self._request("GET", "/v1/models")["data"])

    def generate(self, prompt: str, *, model: str | None = None, **params: Any) -> dict[str, Any]:
        """A text completion; the result has ``text``, ``finish_reason``, ``usage`` and OpenAI's fields."""
        body = self._body(self._model(model), False, {"prompt": prompt, **params})
        return with_text(self._request("POST", "/v1/completions", body), chat=False)

    def chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """A chat completion of ``messages`` (plus ``message`` as the last user turn)."""
        body = self._body(self._model(model), False, {"messages": chat_messages(message, messages, system), **params})
        return with_text(self._request("POST", "/v1/chat/completions", body), chat=True)

    def stream_generate(self, prompt: str, *, model: str | None = None, **params: Any) -> Iterator[str]:
        """The completion's text, piece by piece as it is generated."""
        body = self._body(self._model(model), True, {"prompt": prompt, **params})
        yield from self._stream("/v1/completions", body, chat=False)

    def stream_chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> Iterator[str]:
        """The chat answer, piece by piece as it is generated."""
        body = self._body(self._model(model), True, {"messages": chat_messages(message, messages, system), **params})
        yield from self._stream("/v1/chat/completions", body, chat=True)

    def _stream(
        self, path: str, body: dict[str, Any], chat: bool, on_headers: Callable[[Any], None] | None = None
    ) -> Iterator[str]:
        attempt, started = 0, False
        while True:  # retries only until the first token: a started answer is never replayed
            try:
                with self._client.stream("POST", path, json=body) as response:
                    if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                        response.read()
                        delay = self._delay(attempt, response.headers.get("retry-after"))
                    elif response.status_code >= 400:
                        raise error_from_response(response.status_code, response.read())
                    else:
                        if on_headers is not None:
                            on_headers(response.headers)
                        for line in response.iter_lines():
                            if not line.startswith("data: "):
                                continue
                            data = line[6:]
                            if data == "[DONE]":
                                return
                            text = stream_delta_text(json.loads(data), chat)
                            if text:
                                started = True
                                yield text
                        return
            except errors.LFError:
                raise
            except Exception as exc:
                if started or not self._retryable(exc) or attempt >= self.max_retries:
                    raise errors.RunError(f"Cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
                delay = self._delay(attempt)
            time.sleep(delay)
            attempt += 1


class AsyncInferenceClient(ClientBase):
    """The asyncio twin of :class:`InferenceClient` (same arguments and methods, awaited)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._client = import_httpx().AsyncClient(base_url=self.base_url, timeout=self.timeout, headers=self._headers)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncInferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return (await self._send(method, path, body)).json()

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call with retries and backoff; returns the successful ``httpx.Response``."""
        attempt = 0
        while True:
            try:
                response = await self._client.request(method, path, json=body)
            except Exception as exc:
                if not self._retryable(exc) or attempt >= self.max_retries:
                    raise errors.RunError(f"Cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise error_from_response(response.status_code, response.content)
            return response

    async def _model(self, model: str | None) -> str:
        if model or self.model:
            return str(model or self.model)
        self.model = (await self.models())[0]["id"]
        return self.model

    async def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return dict((await self._client.get("/health")).json())

    async def ready(self) -> bool:
        """Whether ``GET /ready`` answers 200."""
        try:
            return bool((await self._client.get("/ready")).status_code == 200)
        except Exception:
            return False

    async def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``."""
        return list((await self._request("GET", "/v1/models"))["data"])

    async def generate(self, prompt: str, *, model: str | None = None, **params: Any) -> dict[str, Any]:
        """A text completion (see :meth:`InferenceClient.generate`)."""
        body = self._body(await self._model(model), False, {"prompt": prompt, **params})
        return with_text(await self._request("POST", "/v1/completions", body), chat=False)

    async def chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """A chat completion (see :meth:`InferenceClient.chat`)."""
        chosen = await self._model(model)
        body = self._body(chosen, False, {"messages": chat_messages(message, messages, system), **params})
        return with_text(await self._request("POST", "/v1/chat/completions", body), chat=True)

    async def stream_generate(self, prompt: str, *, model: str | None = None, **params: Any) -> AsyncIterator[str]:
        """The completion's text, piece by piece."""
        body = self._body(await self._model(model), True, {"prompt": prompt, **params})
        async for piece in self._stream("/v1/completions", body, chat=False):
            yield piece

    async def stream_chat(
        self,
        message: str | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        model: str | None = None,
        **params: Any,
    ) -> AsyncIterator[str]:
        """The chat answer, piece by piece."""
        chosen = await self._model(model)
        body = self._body(chosen, True, {"messages": chat_messages(message, messages, system), **params})
        async for piece in self._stream("/v1/chat/completions", body, chat=True):
            yield piece

    async def _stream(
        self, path: str, body: dict[str, Any], chat: bool, on_headers: Callable[[Any], None] | None = None
    ) -> AsyncIterator[str]:
        attempt, started = 0, False
        while True:
            try:
                async with self._client.stream("POST", path, json=body) as response:
                    if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                        await response.aread()
                        delay = self._delay(attempt, response.headers.get("retry-after"))
                    elif response.status_code >= 400:
                        raise error_from_response(response.status_code, await response.aread())
                    else:
                        if on_headers is not None:
                            on_headers(response.headers)
                        async for line in response.aiter_lines():
                            if not line.startswith("data: "):
                                continue
                            data = line[6:]
                            if data == "[DONE]":
                                return
                            text = stream_delta_text(json.loads(data), chat)
                            if text:
                                started = True
                                yield text
                        return
            except errors.LFError:
                raise
            except Exception as exc:
                if started or not self._retryable(exc) or attempt >= self.max_retries:
                    raise errors.RunError(f"Cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
                delay = self._delay(attempt)
            await asyncio.sleep(delay)
            attempt += 1


def __getattr__(name: str) -> Any:
    """``RouterClient`` and ``AsyncRouterClient`` live in :mod:`lf.client_router` (they build on the classes above)."""
    if name in ("RouterClient", "AsyncRouterClient"):
        import lf.client_router

        return getattr(lf.client_router, name)
    raise AttributeError(f"module 'lf.client' has no attribute {name!r}")
