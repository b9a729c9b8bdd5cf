"""The life of one routed request: decide, admit, forward (retry, fall back), answer or relay.

The body was decoded strictly at the edge (the same Structs as the model server), so
what is forwarded is exactly what the client set, re-encoded - never bytes the router
did not understand. Admission is the core's (:class:`lf.serve.limits.Admission`); a
streamed answer keeps its slot until the relay ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import msgspec
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream

from lf.errors import LFError, ModelOverloadedError
from lf.serve.disconnect import unless_client_leaves
from lf.serve.error_handlers import ClientGoneError
from lf.serve.limits import with_retry_after
from lf.serve.openai_errors import error_body
from lf.serve.schemas import ChatCompletionRequest, CompletionRequest
from lf.serve.validation import check_prompt_size, query_text
from lf.serve.wire import SSE_DONE, SSE_HEADERS, first_event_with_field, sse, with_field
from lf_router_hybrid.service.decide import Decision, decide
from lf_router_hybrid.service.forward import Answer, ExhaustedError

if TYPE_CHECKING:
    from lf.experts import ExpertConfig
    from lf_router_hybrid.service.router import RouterService

OpenAIRequest = ChatCompletionRequest | CompletionRequest


class Proxy:
    """Forwards OpenAI requests for a :class:`RouterService`."""

    def __init__(self, router: RouterService) -> None:
        self.router = router

    async def openai(self, request: Request[Any, Any, Any], body: OpenAIRequest, *, request_id: str) -> Response[Any]:
        """``POST /v1/chat/completions`` or ``/v1/completions``: route, forward, answer."""
        router = self.router
        scope_state = request.scope["state"]
        check_prompt_size(body, router.options.limits.max_prompt_chars)
        decision = await decide(router, body.model, lambda: query_text(body))
        scope_state["lf_model"] = body.model  # auto or a known expert: never an unbounded metric label
        chat = isinstance(body, ChatCompletionRequest)
        path = "/v1/chat/completions" if chat else "/v1/completions"
        payload = msgspec.to_builtins(body)
        answer, decision = await self.exchange(request, payload, path, decision, stream=body.stream, rid=request_id)
        headers = decision.headers()
        if answer.retry_after:
            headers["retry-after"] = answer.retry_after
        if answer.response is not None:
            return self._stream(answer, decision, headers, scope_state)
        content = answer.body
        if decision.fallback_from and answer.status == 200:
            content = with_field(content, "router", decision.field())
        self.finish(scope_state, decision.expert, answer.status, answer.upstream_s)
        return Response(content=content, status_code=answer.status, media_type=answer.content_type, headers=headers)

    async def exchange(
        self,
        request: Request[Any, Any, Any],
        payload: dict[str, Any],
        path: str,
        decision: Decision,
        *,
        stream: bool,
        rid: str,
    ) -> tuple[Answer, Decision]:
        """Admit and forward (falling back when every replica of the expert failed).

        A streamed answer keeps its admission slot until :meth:`_relay` ends; a client that
        leaves meanwhile ends the exchange with :class:`ClientGoneError` (answered 499).
        """
        router = self.router
        scope_state = request.scope["state"]
        await router.admission.acquire(router.deadline(scope_state))
        scope_state["lf_counted"] = True
        keep_slot = False
        try:
            answer, final = await self._until_answered(request, payload, path, decision, stream, rid)
            router.metrics.decision_of(final.expert, final.kind).inc()
            keep_slot = answer.response is not None
            return answer, final
        except BaseException as exc:
            status = exc.http_status if isinstance(exc, LFError) else 499 if isinstance(exc, ClientGoneError) else 500
            router.metrics.request_of(decision.expert, status).inc()
            raise
        finally:
            if not keep_slot:
                router.admission.release()

    async def _until_answered(
        self,
        request: Request[Any, Any, Any],
        payload: dict[str, Any],
        path: str,
        decision: Decision,
        stream: bool,
        request_id: str,
    ) -> tuple[Answer, Decision]:
        """The expert's replicas, then the fallback's, cancelled if the client disconnects meanwhile.

        Every wait inside is bounded by the deadline already (upstream timeouts, backoff).
        """
        deadline = self.router.deadline(request.scope["state"])
        return await unless_client_leaves(
            request, lambda: self._try_experts(payload, path, decision, stream, deadline, request_id)
        )

    async def _try_experts(
        self, payload: dict[str, Any], path: str, decision: Decision, stream: bool, deadline: float, request_id: str
    ) -> tuple[Answer, Decision]:
        router = self.router
        fallback = router.classifier.fallback_expert
        while True:
            body = self._with_defaults(payload, router.manager.get_expert(decision.expert))
            try:
                answer = await router.fwd.send(
                    decision.expert, path, body, stream=stream, deadline=deadline, request_id=request_id
                )
                return answer, decision
            except ExhaustedError as exc:
                if decision.expert == fallback or not router.pool.replicas(fallback):
                    raise with_retry_after(
                        ModelOverloadedError(
                            f"No replica of expert '{exc.expert}' answered: {exc.reason}.",
                            hint="Check the replicas (GET /experts) or retry after the Retry-After delay.",
                        ),
                        router.options.limits.retry_after_s,
                    ) from None
                decision = decision.fell_back(fallback, f"no replica of '{decision.expert}' answered ({exc.reason})")
                router.metrics.fallbacks.labels(decision.fallback_from, fallback).inc()

    def _with_defaults(self, payload: dict[str, Any], expert: ExpertConfig | None) -> dict[str, Any]:
        """The expert's ``max_tokens`` and ``temperature`` where the request left them out."""
        if expert is None or not self.router.options.upstream.expert_defaults:
            return payload
        out = dict(payload)
        if "max_tokens" not in out and "max_completion_tokens" not in out:
            out["max_tokens"] = expert.max_tokens
        out.setdefault("temperature", expert.temperature)
        return out

    def finish(self, scope_state: dict[str, Any], expert: str, status: int, upstream_s: float) -> None:
        """Count a forwarded request and the router's own share of its time."""
        router = self.router
        router.metrics.request_of(expert, status).inc()
        started = scope_state.get("lf_t0") or time.perf_counter()
        router.metrics.overhead.observe(max(0.0, time.perf_counter() - started - upstream_s))
        scope_state["lf_expert"] = expert

    def _stream(
        self, answer: Answer, decision: Decision, headers: dict[str, str], scope_state: dict[str, Any]
    ) -> Response[Any]:
        first = answer.first
        if decision.fallback_from:
            first = first_event_with_field(first, "router", decision.field())
        started = scope_state.get("lf_t0") or time.perf_counter()
        self.router.metrics.overhead.observe(max(0.0, time.perf_counter() - started - answer.upstream_s))
        events = self._relay(answer, first, decision.expert, scope_state)
        return Stream(
            events,
            status_code=answer.status,
            media_type=answer.content_type or "text/event-stream",
            headers={**SSE_HEADERS, **headers},
            background=BackgroundTask(events.aclose),
        )

    async def _relay(
        self, answer: Answer, first: bytes, expert: str, scope_state: dict[str, Any]
    ) -> AsyncGenerator[bytes, None]:
        """The replica's stream, chunk by chunk as it arrives; a broken stream ends with an error event."""
        router = self.router
        status = 499
        try:
            if first:
                yield first
            assert answer.chunks is not None
            try:
                async for chunk in answer.chunks:
                    yield chunk
                status = 200
            except httpx.TransportError as exc:
                status = 502
                router.fwd.stream_failed(answer, exc)
                message = f"The expert '{expert}' stopped answering mid-stream ({type(exc).__name__})."
                yield sse(error_body("INTERNAL_ERROR", message)) + SSE_DONE
        finally:
            with anyio.CancelScope(shield=True):
                answer.replica.in_flight -= 1
                if answer.response is not None:
                    await answer.response.aclose()
                router.admission.release()
            router.metrics.request_of(expert, status).inc()
            scope_state["lf_stream_status"] = status
            scope_state["lf_expert"] = expert
