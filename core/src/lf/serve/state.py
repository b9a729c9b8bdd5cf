"""The server's state and the life of one request: admission, deadline, backend, metrics.

Kept apart from the Litestar wiring (``lf.serve.app``) so that the router and tests can
reuse it. Nothing here logs a prompt or a key.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
import msgspec
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream

from lf.errors import (
    InternalError,
    InvalidRequestError,
    LFError,
    ModelNotFoundError,
    ModelOverloadedError,
    RequestTimeoutError,
)
from lf.logs import get_logger
from lf.serve.auth import KeyChecker, configured_keys, validate_keys
from lf.serve.backend import backend_status
from lf.serve.config import ServeConfig
from lf.serve.limits import Admission, RateLimiter
from lf.serve.metrics import RequestTimer, ServerMetrics
from lf.serve.openai_errors import error_body, lf_error_body, with_retry_after
from lf.serve.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Chunk,
    Completion,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Delta,
    GenerationRequest,
    HealthResponse,
    ModelCard,
    ModelList,
    ReadyResponse,
    Usage,
)

log = get_logger("lf.serve")
_encode = msgspec.json.Encoder().encode
_DONE = b"data: [DONE]\n\n"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: Any) -> bytes:
    """One Server-Sent Event frame."""
    return b"data: " + _encode(data) + b"\n\n"


class ClientGoneError(Exception):
    """The client closed the connection before the answer was ready."""


class ServerState:
    """Everything one server holds: backend, config, keys, limits, metrics, clocks."""

    def __init__(self, backend: Any, config: ServeConfig, *, backend_name: str, load: bool = True) -> None:
        self.backend = backend
        self.config = config
        self.backend_name = backend_name
        limits = config.limits
        self.keys = KeyChecker(
            configured_keys(config.api_keys),
            validate_keys(config.admin_keys, "admin_keys"),
            user_keys_are_admin=config.user_keys_are_admin,
        )
        self.admission = Admission(limits.max_concurrent_requests, limits.max_queued_requests)
        self.rate = (
            RateLimiter(limits.rate_limit_per_minute, limits.rate_limit_burst) if limits.rate_limit_per_minute else None
        )
        self.metrics = ServerMetrics(gpu_memory=lambda: backend_status(self.backend).gpu_memory_used_bytes)
        self.started = time.monotonic()
        self.loading = load
        self.load_error: str | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._models: list[ModelCard] = [] if load else self._list_models()
        self.last_progress = time.monotonic()
        self.busy_since: float | None = None
        self._admin_lock: asyncio.Lock | None = None
        #: Called (no arguments) when the start-up load finished, or failed.
        self.on_loaded: Any = None
        self.on_load_failed: Any = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin loading the model in the background (the server answers /ready with 503 meanwhile)."""
        if self.loading:
            self._load_task = asyncio.create_task(self._load())

    async def _load(self) -> None:
        t0 = time.monotonic()
        try:
            result = self.backend.load(self.config) if inspect.iscoroutinefunction(self.backend.load) else None
            if result is not None:
                await result
            else:
                await anyio.to_thread.run_sync(self.backend.load, self.config)
            self._models = self._list_models()
            log.info("model loaded", extra={"context": {"seconds": round(time.monotonic() - t0, 2)}})
        except Exception as exc:
            self.load_error = str(exc) if isinstance(exc, LFError) else f"{type(exc).__name__}: {exc}"
            log.error("model failed to load", extra={"context": {"error": self.load_error}})
        finally:
            self.loading = False
        callback = self.on_load_failed if self.load_error else self.on_loaded
        if callback is not None:
            callback()

    async def wait_loaded(self) -> None:
        """Block until the start-up load finished (or failed)."""
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    async def stop(self) -> None:
        """Close the backend (graceful shutdown)."""
        if self._load_task is not None and not self._load_task.done():
            with anyio.move_on_after(1):
                await asyncio.shield(self._load_task)
        close = getattr(self.backend, "close", None)
        if callable(close):
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.warning("backend close failed", extra={"context": {"error": f"{type(exc).__name__}: {exc}"}})

    # -- models ---------------------------------------------------------------------------------------

    def _list_models(self) -> list[ModelCard]:
        cards = list(self.backend.models())
        for card in cards:
            card.backend = card.backend or self.backend_name
        return cards

    def model_list(self) -> ModelList:
        """``GET /v1/models``."""
        return ModelList(data=self._models)

    def model_card(self, model_id: str) -> ModelCard:
        """One model, or MODEL_NOT_FOUND."""
        for card in self._models:
            if card.id == model_id:
                return card
        raise self._unknown_model(model_id)

    def _unknown_model(self, model_id: str) -> ModelNotFoundError:
        known = ", ".join(c.id for c in self._models) or "none (no model is loaded)"
        return ModelNotFoundError(
            f"The model '{model_id}' does not exist on this server. Served models: {known}.",
            hint="GET /v1/models lists them.",
            details={"param": "model"},
        )

    async def admin(self, action: str, *args: Any) -> dict[str, Any]:
        """Run a hot-swap action of the backend, one at a time; returns the new model list."""
        method = getattr(self.backend, action, None)
        if not callable(method):
            raise InvalidRequestError(f"The {self.backend_name} backend does not support {action.replace('_', ' ')}.")
        if self._admin_lock is None:
            self._admin_lock = asyncio.Lock()
        async with self._admin_lock:
            result = method(*args)
            if inspect.isawaitable(result):
                await result
            self._models = self._list_models()
        log.info("admin action", extra={"context": {"action": action}})
        return {"ok": True, "action": action, "models": msgspec.to_builtins(self._models)}

    # -- health ----------------------------------------------------------------------------------------

    def _stalled(self) -> bool:
        status = backend_status(self.backend)
        busy = self.admission.active > 0 or status.pending > 0
        if not busy or self.busy_since is None:
            return False
        progress = max(self.last_progress, status.last_progress or 0.0, self.busy_since)
        return time.monotonic() - progress > self.config.limits.stall_timeout_s

    def ready(self) -> ReadyResponse:
        """``GET /ready``."""
        if self.loading:
            return ReadyResponse(ready=False, reason="the model is loading")
        if self.load_error:
            return ReadyResponse(ready=False, reason=f"the model failed to load: {self.load_error}")
        status = backend_status(self.backend)
        if status.error:
            return ReadyResponse(ready=False, reason=f"the engine failed: {status.error}")
        if not status.loaded or not self._models:
            return ReadyResponse(ready=False, reason="no model is loaded")
        if self._stalled():
            return ReadyResponse(ready=False, reason="the engine has made no progress for too long")
        return ReadyResponse(ready=True)

    def health(self) -> HealthResponse:
        """``GET /health``: unhealthy without a model, degraded when slow, stalled or shedding."""
        status = backend_status(self.backend)
        reasons: list[str] = []
        if self.loading:
            reasons.append("the model is loading")
        if self.load_error:
            reasons.append(f"the model failed to load: {self.load_error}")
        if status.error:
            reasons.append(f"the engine failed: {status.error}")
        if not reasons and not (status.loaded and self._models):
            reasons.append("no model is loaded")
        verdict = "unhealthy" if reasons else "healthy"
        if verdict == "healthy":
            ttft = self.metrics.recent_ttft_median()
            if ttft is not None and ttft > self.config.limits.slow_ttft_s:
                reasons.append(f"slow responses: median time to first token {ttft:.1f}s")
            if self.admission.recently_shed():
                reasons.append("requests were refused for capacity in the last minute")
            if self._stalled():
                reasons.append("the engine has made no progress for too long")
            verdict = "degraded" if reasons else "healthy"
        return HealthResponse(
            status=verdict,  # type: ignore[arg-type]
            model=self._models[0].id if self._models else None,
            backend=self.backend_name,
            uptime=round(time.monotonic() - self.started, 3),
            active_requests=self.admission.active,
            queued_requests=self.admission.queued,
            reasons=reasons,
        )

    def render_metrics(self) -> bytes:
        """``GET /metrics``."""
        return self.metrics.render(self.admission.queued)

    # -- one request ---------------------------------------------------------------------------------------

    def to_generation(
        self, body: CompletionRequest | ChatCompletionRequest, request_id: str, chat: bool
    ) -> GenerationRequest:
        """Our backend request from an OpenAI one."""
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        req = GenerationRequest(
            request_id=request_id,
            model=body.model,
            max_tokens=body.max_tokens or body.max_completion_tokens,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            top_k=-1 if body.top_k is None else body.top_k,
            stop=stop,
            seed=body.seed,
            presence_penalty=body.presence_penalty or 0.0,
            frequency_penalty=body.frequency_penalty or 0.0,
            ignore_eos=body.ignore_eos,
        )
        if isinstance(body, ChatCompletionRequest):
            req.messages = [_message_dict(m) for m in body.messages]
        else:
            prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
            if len(prompts) != 1:
                raise InvalidRequestError(
                    "Send exactly one prompt per request.", details={"param": "prompt"}, hint="Send several requests."
                )
            req.prompt = prompts[0]
        return req

    async def complete(
        self,
        request: Request[Any, Any, Any],
        body: CompletionRequest | ChatCompletionRequest,
        *,
        chat: bool,
        request_id: str,
    ) -> Response[Any]:
        """Serve one completion request, streamed or not."""
        scope_state = request.scope["state"]
        t0 = scope_state.get("lf_t0") or time.perf_counter()
        if self.loading:
            raise with_retry_after(ModelOverloadedError("The model is still loading."), 5)
        if not any(card.id == body.model for card in self._models):
            raise self._unknown_model(body.model)
        gen = self.to_generation(body, request_id, chat)
        scope_state["lf_model"] = body.model
        deadline = t0 + self.config.limits.request_timeout_s
        await self._admit(deadline)
        timer = RequestTimer(self.metrics, body.model, started=t0)
        scope_state["lf_counted"] = True
        self.metrics.active.labels(body.model).inc()
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        if body.stream:
            events = self._stream(gen, chat, include_usage, deadline, timer, scope_state)
            await events.__anext__()  # up to the first chunk; from here on its cleanup always runs
            return Stream(
                events,
                media_type="text/event-stream",
                headers=_SSE_HEADERS,
                background=BackgroundTask(events.aclose),
            )
        try:
            result = await self._generate(request, gen, deadline)
        except BaseException as exc:
            status = exc.http_status if isinstance(exc, LFError) else 499 if isinstance(exc, ClientGoneError) else 500
            timer.finish(status)
            raise
        finally:
            self.metrics.active.labels(body.model).dec()
            await self._release()
        timer.tokens_seen(result.completion_tokens)
        timer.finish(200, result.completion_tokens, result.prompt_tokens)
        scope_state["lf_tokens"] = result.completion_tokens
        text = (gen.prompt or "") + result.text if isinstance(body, CompletionRequest) and body.echo else result.text
        return Response(content=_encode(self._response(gen, result, text, chat)), media_type="application/json")

    async def _admit(self, deadline: float) -> None:
        if not self.admission.try_admit():
            raise with_retry_after(
                ModelOverloadedError(
                    "The server is at capacity; retry shortly.",
                    hint="Retry after the Retry-After delay, or raise limits.max_queued_requests.",
                ),
                self.config.limits.retry_after_s,
            )
        with anyio.move_on_after(max(0.0, deadline - time.perf_counter())) as scope:
            await self.admission.wait_for_slot()
        if scope.cancelled_caught:
            raise RequestTimeoutError("The request waited too long for a free slot.")
        if self.admission.active == 1 or self.busy_since is None:
            self.busy_since = time.monotonic()

    async def _release(self) -> None:
        await self.admission.release()
        self.last_progress = time.monotonic()
        if self.admission.active == 0:
            self.busy_since = None

    async def _generate(self, request: Request[Any, Any, Any], gen: GenerationRequest, deadline: float) -> Completion:
        """``backend.generate`` under the deadline, cancelled if the client goes away."""
        outcome: list[Any] = []
        gone = False

        async def watch(cancel: anyio.CancelScope) -> None:
            nonlocal gone
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    gone = True
                    cancel.cancel()
                    return

        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            with anyio.move_on_after(max(0.0, deadline - time.perf_counter())) as timeout:
                try:
                    outcome.append(await self.backend.generate(gen))
                except Exception as exc:
                    outcome.append(exc)
            group.cancel_scope.cancel()
        if gone:
            raise ClientGoneError()
        if timeout.cancelled_caught or not outcome:
            raise RequestTimeoutError(f"The request did not finish within {self.config.limits.request_timeout_s:g}s.")
        result = outcome[0]
        if isinstance(result, LFError):
            raise result
        if isinstance(result, Exception):
            log.error(
                "backend error", extra={"context": {"request_id": gen.request_id, "error": type(result).__name__}}
            )
            raise InternalError(f"The backend failed ({type(result).__name__}); request id {gen.request_id}.")
        assert isinstance(result, Completion)
        return result

    def _response(
        self, gen: GenerationRequest, result: Completion, text: str, chat: bool
    ) -> ChatCompletionResponse | CompletionResponse:
        usage = Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens,
        )
        created = int(time.time())
        if chat:
            return ChatCompletionResponse(
                id=f"chatcmpl-{gen.request_id}",
                created=created,
                model=gen.model,
                choices=[ChatChoice(message=AssistantMessage(content=text), finish_reason=result.finish_reason)],
                usage=usage,
            )
        return CompletionResponse(
            id=f"cmpl-{gen.request_id}",
            created=created,
            model=gen.model,
            choices=[CompletionChoice(text=text, finish_reason=result.finish_reason)],
            usage=usage,
        )

    async def _next(self, iterator: AsyncIterator[Chunk], deadline: float) -> Chunk | None:
        """The backend's next chunk (None at the end), or TIMEOUT past the deadline."""
        with anyio.move_on_after(max(0.0, deadline - time.perf_counter())):
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                return None
        raise RequestTimeoutError(f"The request did not finish within {self.config.limits.request_timeout_s:g}s.")

    async def _stream(
        self,
        gen: GenerationRequest,
        chat: bool,
        include_usage: bool,
        deadline: float,
        timer: RequestTimer,
        scope_state: dict[str, Any],
    ) -> AsyncGenerator[bytes, None]:
        """The SSE frames of one streamed request; closing it aborts the backend's generation.

        ``complete()`` runs it up to the backend's first chunk before answering, so an error
        before any token (unknown adapter, prompt too long, out of memory in the prefill) is a
        real HTTP status; after that, errors are sent as an error frame.
        """
        rid, created, model = gen.request_id, int(time.time()), gen.model
        frame = _ChatFrames(rid, created, model) if chat else _TextFrames(rid, created, model)
        iterator: AsyncIterator[Chunk] | None = None
        status: int = 499
        started = False
        last = Chunk(text="")
        try:
            iterator = self.backend.stream(gen).__aiter__()
            chunk = await self._next(iterator, deadline)
            started = True
            yield b""  # the priming step of complete(): never sent
            if isinstance(frame, _ChatFrames):
                yield frame.role()
            while chunk is not None:
                last = chunk
                timer.tokens_seen(chunk.completion_tokens)
                self.last_progress = time.monotonic()
                if chunk.text or chunk.finish_reason:
                    yield frame.content(chunk.text, chunk.finish_reason)
                chunk = await self._next(iterator, deadline)
            if include_usage:
                yield frame.usage(last)
            yield _DONE
            status = 200
        except LFError as exc:
            status = exc.http_status
            if not started:
                raise
            yield sse(lf_error_body(exc))
            yield _DONE
        except Exception as exc:
            status = 500
            log.error("backend error mid-stream", extra={"context": {"request_id": rid, "error": type(exc).__name__}})
            message = f"The backend failed ({type(exc).__name__}); request id {rid}."
            if not started:
                raise InternalError(message) from None
            yield sse(error_body("INTERNAL_ERROR", message))
            yield _DONE
        finally:
            with anyio.CancelScope(shield=True):
                if iterator is not None:
                    try:
                        await iterator.aclose()  # type: ignore[attr-defined]
                    except Exception as exc:
                        log.warning("closing a stream failed", extra={"context": {"error": type(exc).__name__}})
                self.metrics.active.labels(model).dec()
                await self._release()
            timer.finish(status, last.completion_tokens or None, last.prompt_tokens)
            scope_state["lf_stream_status"] = status
            scope_state["lf_tokens"] = last.completion_tokens


def _message_dict(message: Any) -> dict[str, Any]:
    content = message.content
    if isinstance(content, list):
        parts = []
        for part in content:
            if part.type != "text" or part.text is None:
                raise InvalidRequestError(
                    f"Message content of type '{part.type}' is not supported; send text.", details={"param": "messages"}
                )
            parts.append(part.text)
        content = "".join(parts)
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": content or ""}


class _ChatFrames:
    def __init__(self, rid: str, created: int, model: str) -> None:
        self.id, self.created, self.model = f"chatcmpl-{rid}", created, model

    def _chunk(self, choices: list[ChatChunkChoice], usage: Usage | None = None) -> bytes:
        return sse(
            ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=choices, usage=usage)
        )

    def role(self) -> bytes:
        return self._chunk([ChatChunkChoice(delta=Delta(role="assistant", content=""))])

    def content(self, text: str, finish: Any) -> bytes:
        return self._chunk([ChatChunkChoice(delta=Delta(content=text) if text else Delta(), finish_reason=finish)])

    def usage(self, last: Chunk) -> bytes:
        return self._chunk([], _usage(last))


class _TextFrames:
    def __init__(self, rid: str, created: int, model: str) -> None:
        self.id, self.created, self.model = f"cmpl-{rid}", created, model

    def content(self, text: str, finish: Any) -> bytes:
        choice = CompletionChoice(text=text, finish_reason=finish)
        return sse(CompletionResponse(id=self.id, created=self.created, model=self.model, choices=[choice]))

    def usage(self, last: Chunk) -> bytes:
        return sse(
            CompletionResponse(id=self.id, created=self.created, model=self.model, choices=[], usage=_usage(last))
        )


def _usage(last: Chunk) -> Usage:
    return Usage(
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
        total_tokens=last.prompt_tokens + last.completion_tokens,
    )
