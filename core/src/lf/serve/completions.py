"""The life of one completion request on the model server: check, admit, generate or stream, answer.

:class:`CompletionPipeline` turns an OpenAI request (already decoded strictly from its
Struct) into a :class:`~lf.serve.schemas.GenerationRequest`, checks what the schema
cannot (prompt size, ``max_tokens`` against the context), takes an admission slot,
runs the backend under the deadline - cancelled when the client goes away - and
answers in OpenAI's shape, as JSON or as Server-Sent Events. Nothing here logs a prompt.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream

from lf.errors import InternalError, InvalidRequestError, LFError, ModelOverloadedError, RequestTimeoutError
from lf.logs import get_logger
from lf.serve.disconnect import unless_client_leaves
from lf.serve.error_handlers import ClientGoneError
from lf.serve.frames import ChatFrames, TextFrames
from lf.serve.limits import with_retry_after
from lf.serve.metrics import RequestTimer
from lf.serve.openai_errors import error_body, lf_error_body
from lf.serve.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Chunk,
    Completion,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    GenerationRequest,
    Usage,
)
from lf.serve.validation import check_prompt_size, to_generation
from lf.serve.wire import SSE_DONE, SSE_HEADERS, encode, sse

if TYPE_CHECKING:
    from lf.serve.model_service import ModelService

log = get_logger("lf.serve")
OpenAIRequest = CompletionRequest | ChatCompletionRequest


class CompletionPipeline:
    """Serves ``/v1/completions`` and ``/v1/chat/completions`` for a :class:`ModelService`."""

    def __init__(self, service: ModelService) -> None:
        self.service = service

    def _timeout_error(self) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"The request did not finish within {self.service.config.limits.request_timeout_s:g}s."
        )

    def prepare(self, body: OpenAIRequest, request_id: str) -> GenerationRequest:
        """The backend's request, after the checks the schema cannot make."""
        service = self.service
        if service.loading:
            raise with_retry_after(ModelOverloadedError("The model is still loading."), 5)
        card = next((c for c in service.models if c.id == body.model), None)
        if card is None:
            raise service.unknown_model(body.model)
        check_prompt_size(body, service.config.limits.max_prompt_chars)
        gen = to_generation(body, request_id, service.config.defaults)
        if gen.max_tokens is not None and card.max_model_len and gen.max_tokens > card.max_model_len:
            raise InvalidRequestError(
                f"max_tokens is {gen.max_tokens}, more than the model's context of {card.max_model_len} tokens.",
                details={"param": "max_tokens"},
                hint="Ask for fewer tokens.",
            )
        return gen

    async def complete(self, request: Request[Any, Any, Any], body: OpenAIRequest, *, request_id: str) -> Response[Any]:
        """Serve one completion request, streamed or not."""
        service = self.service
        scope_state = request.scope["state"]
        gen = self.prepare(body, request_id)
        scope_state["lf_model"] = body.model  # a served model: unknown names never become metric labels
        deadline = service.deadline(scope_state)
        await service.admission.acquire(deadline)
        service.work_started()
        timer = RequestTimer(service.metrics, body.model, started=scope_state.get("lf_t0"))
        scope_state["lf_counted"] = True
        service.metrics.active.labels(body.model).inc()
        chat = isinstance(body, ChatCompletionRequest)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = self._stream(gen, chat, include_usage, deadline, timer, scope_state)
            await events.__anext__()  # up to the first chunk; from here on its cleanup always runs
            return Stream(
                events, media_type="text/event-stream", headers=SSE_HEADERS, background=BackgroundTask(events.aclose)
            )
        try:
            result = await self._generate(request, gen, deadline)
        except BaseException as exc:
            status = exc.http_status if isinstance(exc, LFError) else 499 if isinstance(exc, ClientGoneError) else 500
            timer.finish(status)
            raise
        finally:
            self._leave(body.model)
        timer.tokens_seen(result.completion_tokens)
        timer.finish(200, result.completion_tokens, result.prompt_tokens)
        scope_state["lf_tokens"] = result.completion_tokens
        echo = isinstance(body, CompletionRequest) and body.echo
        text = (gen.prompt or "") + result.text if echo else result.text
        return Response(content=encode(self._response(gen, result, text, chat)), media_type="application/json")

    def _leave(self, model: str) -> None:
        self.service.metrics.active.labels(model).dec()
        self.service.work_ended()
        self.service.admission.release()

    async def _generate(self, request: Request[Any, Any, Any], gen: GenerationRequest, deadline: float) -> Completion:
        """``backend.generate`` under the deadline, cancelled if the client goes away."""

        async def within_deadline() -> Completion | None:
            with anyio.move_on_after(max(0.0, deadline - time.perf_counter())):
                result: Completion = await self.service.backend.generate(gen)
                return result
            return None

        try:
            result = await unless_client_leaves(request, within_deadline)
        except (LFError, ClientGoneError):
            raise
        except Exception as exc:
            log.error("backend error", extra={"context": {"request_id": gen.request_id, "error": type(exc).__name__}})
            raise InternalError(f"The backend failed ({type(exc).__name__}); request id {gen.request_id}.") from None
        if result is None:
            raise self._timeout_error()
        return result

    @staticmethod
    def _response(
        gen: GenerationRequest, result: Completion, text: str, chat: bool
    ) -> ChatCompletionResponse | CompletionResponse:
        usage = Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens,
        )
        created = int(time.time())
        if chat:
            choice = ChatChoice(message=AssistantMessage(content=text), finish_reason=result.finish_reason)
            return ChatCompletionResponse(
                id=f"chatcmpl-{gen.request_id}", created=created, model=gen.model, choices=[choice], usage=usage
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
        raise self._timeout_error()

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
        frames = (ChatFrames if chat else TextFrames)(gen.request_id, int(time.time()), gen.model)
        iterator: AsyncIterator[Chunk] | None = None
        run = _StreamRun()
        try:
            iterator = self.service.backend.stream(gen).__aiter__()
            chunk = await self._next(iterator, deadline)
            run.started = True
            yield b""  # the priming step of complete(): never sent
            async for frame in self._frames(iterator, chunk, frames, include_usage, deadline, timer, run):
                yield frame
            run.status = 200
        except Exception as exc:
            yield self._failure(exc, gen.request_id, run)
        finally:
            with anyio.CancelScope(shield=True):
                if iterator is not None:
                    await _close(iterator)
                self._leave(gen.model)
            timer.finish(run.status, run.last.completion_tokens or None, run.last.prompt_tokens)
            scope_state["lf_stream_status"] = run.status
            scope_state["lf_tokens"] = run.last.completion_tokens

    async def _frames(
        self,
        iterator: AsyncIterator[Chunk],
        chunk: Chunk | None,
        frames: ChatFrames | TextFrames,
        include_usage: bool,
        deadline: float,
        timer: RequestTimer,
        run: _StreamRun,
    ) -> AsyncGenerator[bytes, None]:
        """The events of a stream whose first chunk is ``chunk``: opening, content, usage, ``[DONE]``."""
        opening = frames.opening()
        if opening:
            yield opening
        while chunk is not None:
            run.last = chunk
            timer.tokens_seen(chunk.completion_tokens)
            self.service.last_progress = time.monotonic()
            if chunk.text or chunk.finish_reason:
                yield frames.content(chunk.text, chunk.finish_reason)
            chunk = await self._next(iterator, deadline)
        if include_usage:
            yield frames.usage(run.last)
        yield SSE_DONE

    @staticmethod
    def _failure(exc: Exception, request_id: str, run: _StreamRun) -> bytes:
        """Before the first chunk: raise (a real HTTP status). After it: the error event that ends the stream."""
        if isinstance(exc, LFError):
            run.status = exc.http_status
            if not run.started:
                raise exc
            return sse(lf_error_body(exc)) + SSE_DONE
        run.status = 500
        log.error(
            "backend error mid-stream", extra={"context": {"request_id": request_id, "error": type(exc).__name__}}
        )
        message = f"The backend failed ({type(exc).__name__}); request id {request_id}."
        if not run.started:
            raise InternalError(message) from None
        return sse(error_body("INTERNAL_ERROR", message)) + SSE_DONE


class _StreamRun:
    """How a stream went: its status so far, whether its first chunk came, its last chunk."""

    def __init__(self) -> None:
        self.status = 499
        self.started = False
        self.last = Chunk(text="")


async def _close(iterator: AsyncIterator[Chunk]) -> None:
    try:
        await iterator.aclose()  # type: ignore[attr-defined]
    except Exception as exc:
        log.warning("closing a stream failed", extra={"context": {"error": type(exc).__name__}})
