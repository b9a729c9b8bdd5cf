"""The models a generator, judge or comparison talks to, behind one small async ``chat`` API.

* :class:`EndpointModel` - any OpenAI-compatible endpoint (an ``lf`` server, vLLM, a hosted
  API) through the official ``openai`` client; the API key comes from the environment
  variable the config names, never from the config itself.
* :class:`InProcessModel` - a model loaded in this process by any registered inference
  backend (``hf``, ``vllm``, a plugin's), found through the registry like ``lf run serve``
  finds it, and driven through the backend contract of :mod:`lf.serve.backend`.

Both are opened (the endpoint checked, the model loaded) before any prompt is sent, so a
wrong URL, key or model directory stops a run at once with a clear error.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from lf.errors import (
    AuthenticationError,
    ConfigError,
    DependencyMissingError,
    ForbiddenError,
    InvalidRequestError,
    LFError,
    ModelNotFoundError,
    PayloadTooLargeError,
    RunError,
)
from lf.models import resolve_model
from lf_generate.config import ModelRef


@dataclass
class Reply:
    """One generated answer and its token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatModel(Protocol):
    """What generators and evaluations need from a model."""

    name: str

    async def open(self) -> None:
        """Check the endpoint or load the model."""
        ...

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float,
        top_p: float = 1.0,
        max_tokens: int = 256,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Reply:
        """Answer a conversation."""
        ...

    async def aclose(self) -> None:
        """Release the client or the model."""
        ...


def check_ref(ref: ModelRef, what: str) -> None:
    """Reject an unusable model reference before anything loads."""
    if not ref.base_url and not ref.model:
        raise ConfigError(
            f"{what}: give `base_url` (an OpenAI-compatible endpoint) or `model` (loaded in this process).",
            hint=f"e.g. --set {what}.base_url=http://127.0.0.1:8000/v1, or --set {what}.model=out/model",
        )
    if ref.base_url:
        parsed = urlparse(ref.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{what}.base_url: '{ref.base_url}' is not an http(s) URL.")
        if ref.backend_options:
            raise ConfigError(f"{what}.backend_options only apply to a model loaded in-process (no base_url).")
    if ref.api_key_env is not None and not os.environ.get(ref.api_key_env):
        raise ConfigError(
            f"{what}.api_key_env names the environment variable {ref.api_key_env}, which is not set.",
            hint=f"export {ref.api_key_env}=... (the key itself never goes into a config file).",
        )


def open_model(ref: ModelRef, what: str = "teacher") -> ChatModel:
    """The :class:`ChatModel` for ``ref`` (not opened yet)."""
    check_ref(ref, what)
    return EndpointModel(ref, what) if ref.base_url else InProcessModel(ref, what)


def api_base(url: str) -> str:
    """The base URL the ``openai`` client wants: ``http://host:8000`` gains ``/v1``, other paths stay."""
    url = url.rstrip("/")
    return url + "/v1" if urlparse(url).path in ("", "/") else url


class EndpointModel:
    """An OpenAI-compatible endpoint, through ``openai.AsyncOpenAI``."""

    def __init__(self, ref: ModelRef, what: str = "teacher") -> None:
        self.ref = ref
        self.what = what
        self.name = ref.model or ""
        self.base_url = api_base(ref.base_url or "")
        self._client: Any = None

    async def open(self) -> None:
        """Create the client and check the endpoint answers (and who the model is)."""
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - a dependency of this plugin
            raise DependencyMissingError.for_package("openai", "Talking to an endpoint") from exc
        key = os.environ.get(self.ref.api_key_env, "") if self.ref.api_key_env else ""
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=key or "none", max_retries=0, timeout=self.ref.timeout_s
        )
        try:
            models = [m.id async for m in self._client.models.list()]
        except openai.AuthenticationError as exc:
            raise ConfigError(
                f"{self.what}: {self.base_url} refused the API key ({exc.status_code}).",
                hint=f"Set {self.ref.api_key_env or 'api_key_env'} to a valid key.",
            ) from None
        except openai.APIConnectionError as exc:
            raise RunError(
                f"{self.what}: cannot reach {self.base_url}: {exc}", hint="Is the server running? Check base_url."
            ) from None
        except openai.APIStatusError:
            models = []  # some hosted APIs do not list models; the first request will tell
        if not self.name:
            if not models:
                raise ConfigError(f"{self.what}: {self.base_url} lists no model; set {self.what}.model.")
            self.name = models[0]

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float,
        top_p: float = 1.0,
        max_tokens: int = 256,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Reply:
        """One chat completion."""
        response = await self._client.chat.completions.create(
            model=self.name,
            messages=messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            stop=stop or None,
        )
        choice = response.choices[0]
        usage = response.usage
        return Reply(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.close()
            self._client = None


class InProcessModel:
    """A model loaded in this process by a registered backend (the same component ``lf run serve`` uses)."""

    def __init__(self, ref: ModelRef, what: str = "teacher") -> None:
        self.ref = ref
        self.what = what
        self.name = ""
        self.backend: Any = None

    async def open(self) -> None:
        """Look the backend up, build its config, load the model (in a thread)."""
        from lf.config import convert
        from lf.plugins import get_registry

        spec = get_registry().get("serve", self.ref.backend)
        if spec.config is None:
            raise ConfigError(f"{self.what}.backend '{self.ref.backend}' takes no config; it cannot load a model.")
        model = resolve_model(self.ref.model or "")
        config = convert(
            {"model": model, **self.ref.backend_options},
            spec.config,
            source=f"{self.what} (backend '{self.ref.backend}')",
        )
        impl = spec.load()
        backend = impl() if isinstance(impl, type) else impl
        validate = getattr(backend, "validate", None)
        if callable(validate):
            validate(config)
        result = await asyncio.to_thread(backend.load, config)
        if inspect.isawaitable(result):
            await result
        self.backend = backend
        cards = backend.models()
        if not cards:
            raise RunError(f"{self.what}: the {self.ref.backend} backend loaded no model from {model}.")
        self.name = cards[0].id

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float,
        top_p: float = 1.0,
        max_tokens: int = 256,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Reply:
        """One generation through the backend contract (``await backend.generate(request)``)."""
        from lf.serve.schemas import GenerationRequest

        request = GenerationRequest(
            request_id=uuid.uuid4().hex,
            model=self.name,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=list(stop or []),
        )
        completion = await asyncio.wait_for(self.backend.generate(request), self.ref.timeout_s)
        return Reply(
            text=completion.text,
            finish_reason=completion.finish_reason,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )

    async def aclose(self) -> None:
        """Stop the backend's engine (``close()`` when it has one)."""
        close = getattr(self.backend, "close", None)
        self.backend = None
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result


# --- failures: which are worth a retry ----------------------------------------------------------

_FINAL_LF_ERRORS = (
    InvalidRequestError,
    ModelNotFoundError,
    AuthenticationError,
    ForbiddenError,
    PayloadTooLargeError,
    ConfigError,
)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: connection problems, timeouts, 408/409/429/5xx, overload."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, LFError):
        return not isinstance(exc, _FINAL_LF_ERRORS)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in (408, 409, 425, 429) or status >= 500
    return True  # anything else (a dropped stream, an engine hiccup) may be transient


def retry_after(exc: BaseException) -> float | None:
    """Seconds a ``Retry-After`` header asks for, when the error carries one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


MAX_BACKOFF_S = 60.0


class RequestFailedError(Exception):
    """A request failed for good: not worth retrying, or out of retries."""

    def __init__(self, error: str, attempts: int) -> None:
        super().__init__(error)
        self.error = error
        self.attempts = attempts


async def retrying(
    request: Callable[[], Awaitable[Any]],
    *,
    max_retries: int,
    backoff_s: float,
    on_retry: Callable[[BaseException], None] | None = None,
) -> Any:
    """``await request()``, retried with exponential backoff (with jitter, or as ``Retry-After`` asks).

    Raises :class:`RequestFailedError` when the failure is final or the retries are spent.
    """
    attempt = 0
    while True:
        try:
            return await request()
        except Exception as exc:
            if attempt >= max_retries or not is_retryable(exc):
                raise RequestFailedError(describe_error(exc), attempt + 1) from exc
            wait = retry_after(exc)
            if wait is None:
                wait = backoff_s * (2**attempt) * (0.5 + random.random() / 2)
            if on_retry is not None:
                on_retry(exc)
            await asyncio.sleep(min(MAX_BACKOFF_S, wait))
            attempt += 1


def describe_error(exc: BaseException) -> str:
    """A one-line description of a failure (never the prompt)."""
    if isinstance(exc, LFError):
        return f"{exc.code}: {exc.message}"
    status = getattr(exc, "status_code", None)
    text = str(exc).splitlines()[0] if str(exc) else ""
    name = type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"{name}: no answer in time"
    return f"{name}{f' ({status})' if status else ''}: {text}"[:500]
