"""The router's state and the life of one request: decide, admit, forward, answer.

:class:`RouterState` holds the registry (:class:`lf.experts.ExpertManager`), the
classifier (behind a :class:`~lf_router_hybrid.service.selector.Selector`), the replicas
(:class:`~lf_router_hybrid.service.pool.ReplicaPool`), the forwarder (one pooled httpx
client), keys, limits and metrics. Two background tasks keep it current: the registry
watcher (``refresh_if_changed`` every ``registry_poll_s``, so routers sharing the file see
each other's changes) and the health checker (``/ready`` and ``/health`` of every replica).
Nothing else is shared between router processes.

Prompts and keys are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx
import msgspec
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream

from lf.errors import (
    ConfigError,
    InternalError,
    InvalidRequestError,
    LFError,
    ModelNotFoundError,
    ModelOverloadedError,
    RequestTimeoutError,
)
from lf.experts import ExpertConfig, ExpertManager
from lf.logs import get_logger
from lf.serve.auth import KeyChecker, configured_keys, validate_keys
from lf.serve.limits import Admission, RateLimiter
from lf.serve.openai_errors import decode_error, error_body, with_retry_after
from lf.serve.schemas import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from lf_router_hybrid.config import ServiceOptions
from lf_router_hybrid.service.forward import Answer, ExhaustedError, Forwarder
from lf_router_hybrid.service.metrics import RouterMetrics
from lf_router_hybrid.service.pool import ReplicaPool
from lf_router_hybrid.service.schemas import (
    Alternative,
    ExpertList,
    ExpertView,
    GenerateRequest,
    GenerateResponse,
    ReplicaView,
    RouteRequest,
    RouteResponse,
    RouterHealth,
)
from lf_router_hybrid.service.selector import Selector
from lf_router_hybrid.types import ClassificationResult

log = get_logger("lf.router")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

DecisionKind = Literal["classified", "named", "fallback"]


@dataclass
class Decision:
    """Which expert answers a request, and why."""

    expert: str
    kind: DecisionKind
    #: The expert that should have answered, when the fallback (or another expert) does instead.
    fallback_from: str | None = None
    reason: str | None = None
    confidence: float | None = None
    selection_s: float = 0.0
    result: ClassificationResult | None = None

    def headers(self) -> dict[str, str]:
        """``X-LF-Expert``, ``X-LF-Routing`` and, on fallback, ``X-LF-Fallback-From``."""
        out = {"x-lf-expert": self.expert, "x-lf-routing": self.kind}
        if self.fallback_from:
            out["x-lf-fallback-from"] = self.fallback_from
        if self.kind != "named":
            out["x-lf-routing-ms"] = f"{self.selection_s * 1000:.3f}"
        return out

    def field(self) -> dict[str, Any]:
        """The ``router`` field added to a response answered by the fallback."""
        return {"expert": self.expert, "fallback": True, "fallback_from": self.fallback_from, "reason": self.reason}


def router_keys(options: ServiceOptions) -> list[str]:
    """Keys from the config (a list, or a comma-separated string) plus ``LARGEFORGE_API_KEY``."""
    given = options.api_keys
    keys = [k.strip() for k in given.split(",")] if isinstance(given, str) else list(given)
    return configured_keys([k for k in keys if k])


def query_text(body: ChatCompletionRequest | CompletionRequest) -> str:
    """What the classifier reads: the last user message (all messages when none), or the prompt."""
    if isinstance(body, CompletionRequest):
        return body.prompt if isinstance(body.prompt, str) else " ".join(body.prompt[:1])
    users = [m for m in body.messages if m.role == "user"] or body.messages
    return _content(users[-1].content)


def _content(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part.text or "" for part in content if part.type == "text")
    return content or ""


class RouterState:
    """Everything one router process holds."""

    def __init__(
        self,
        classifier: Any,
        manager: ExpertManager,
        options: ServiceOptions,
        *,
        classifier_name: str | None = None,
    ) -> None:
        self.classifier = classifier
        self.classifier_name = classifier_name or type(classifier).__name__
        self.manager = manager
        self.options = options
        limits = options.limits
        self.keys = KeyChecker(
            router_keys(options),
            validate_keys(options.admin_keys, "admin_keys"),
            user_keys_are_admin=options.user_keys_are_admin,
        )
        self.rate = (
            RateLimiter(limits.rate_limit_per_minute, limits.rate_limit_burst) if limits.rate_limit_per_minute else None
        )
        self.admission = Admission(limits.max_concurrent_requests, limits.max_queued_requests)
        self.metrics = RouterMetrics()
        self.pool = ReplicaPool(options.breaker, options.balancing)
        self.pool.sync(manager.list_experts(enabled_only=True))
        self.selector = Selector(classifier)
        self.forwarder: Forwarder | None = None
        self.started = time.monotonic()
        self.generation = manager.generation
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_lock: asyncio.Lock | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the upstream client; start the registry watcher and the health checker."""
        self.forwarder = Forwarder(self.options, self.pool, self.metrics, self.manager)
        self._sync_lock = asyncio.Lock()
        self._tasks = [
            asyncio.create_task(self._every(self.options.registry_poll_s, self.refresh_registry)),
            asyncio.create_task(self._every(self.options.health_checks.interval_s, self.check_replicas, first=True)),
        ]

    async def stop(self) -> None:
        """Stop the background tasks and close the upstream connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.forwarder is not None:
            await self.forwarder.close()

    @property
    def fwd(self) -> Forwarder:
        """The forwarder (exists between start and stop)."""
        if self.forwarder is None:
            raise ModelOverloadedError("The router is starting.")
        return self.forwarder

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Coroutine[Any, Any, Any]], *, first: bool = False) -> None:
        if not first:
            await asyncio.sleep(seconds)
        while True:
            try:
                await job()
            except Exception as exc:  # a background job never dies
                log.warning(
                    "router background job failed", extra={"context": {"error": f"{type(exc).__name__}: {exc}"}}
                )
            await asyncio.sleep(seconds)

    # --- the registry --------------------------------------------------------------------------

    async def refresh_registry(self) -> bool:
        """Pick up another process's change to the registry file (one ``stat`` when none)."""
        changed = await anyio.to_thread.run_sync(self.manager.refresh_if_changed)
        if changed or self.manager.generation != self.generation:
            await self.resync()
            return True
        return False

    async def resync(self) -> None:
        """Bring the replicas and the classifier in line with the registry."""
        assert self._sync_lock is not None
        async with self._sync_lock:
            generation = self.manager.generation
            experts = self.manager.list_experts(enabled_only=True)
            self.pool.sync(experts)
            await anyio.to_thread.run_sync(self.classifier.sync_experts, experts)
            self.generation = generation
            log.info("experts updated", extra={"context": {"experts": [e.name for e in experts]}})

    async def add_expert(self, data: Any, replace: bool) -> ExpertConfig:
        """``POST /experts``: register (or replace) an expert in the shared registry."""
        if not isinstance(data, dict):
            raise InvalidRequestError("Send an expert as a JSON object: {name, description, keywords, endpoint, ...}.")
        try:
            expert = ExpertConfig.from_dict(data, source="the request body")
            stored = await anyio.to_thread.run_sync(lambda: self.manager.register_expert(expert, replace=replace))
        except ConfigError as exc:
            raise InvalidRequestError(exc.message, hint=exc.hint) from None
        await self.resync()
        return stored

    async def remove_expert(self, name: str) -> ExpertConfig:
        """``DELETE /experts/{name}``."""
        removed = await anyio.to_thread.run_sync(self.manager.unregister_expert, name)
        await self.resync()
        return removed

    # --- health checks -----------------------------------------------------------------------------

    async def check_replicas(self) -> None:
        """Check every replica at once, then record each expert's state in the registry's tracker."""
        self.fwd.transport.prune()
        replicas = self.pool.replicas()
        if replicas:
            await asyncio.gather(*(self._check(r) for r in replicas))
        for expert in self.manager.list_experts(enabled_only=True):
            reps = self.pool.replicas(expert.name)
            if not reps:
                continue
            state = (
                "ready"
                if any(r.available() for r in reps)
                else "loading"
                if any(r.healthy and not r.ready for r in reps)
                else "error"
            )
            with contextlib.suppress(LFError):
                self.manager.set_state(expert.name, state)  # type: ignore[arg-type]

    async def _check(self, replica: Any) -> None:
        """``/ready`` (can it serve?) and ``/health`` (status) of one replica; feeds its breaker."""
        client = self.fwd.client
        headers = self.fwd.headers
        timeout = httpx.Timeout(self.options.health_checks.timeout_s)
        try:
            ready = await client.get(f"{replica.url}/ready", headers=headers, timeout=timeout)
            health = await client.get(f"{replica.url}/health", headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            replica.healthy = False
            replica.last_error = f"health check: {type(exc).__name__}"
            replica.breaker.failure()
            replica.checked_at = time.monotonic()
            return
        replica.checked_at = time.monotonic()
        replica.healthy = True
        if ready.status_code == 404:  # not an lf server: its /health decides
            replica.ready = health.status_code == 200
        else:
            replica.ready = ready.status_code == 200
        try:
            replica.status = str(health.json().get("status"))
        except (ValueError, AttributeError):
            replica.status = None
        if replica.ready:
            replica.breaker.success()
            if replica.models is None or not replica.models:
                with contextlib.suppress(httpx.TransportError):
                    await self.fwd.models_of(replica)

    # --- deciding -------------------------------------------------------------------------------------

    def expert_names(self) -> list[str]:
        """Enabled experts, as the pool knows them."""
        return [e.name for e in self.manager.list_experts(enabled_only=True)]

    async def decide(self, model: str, query: Callable[[], str], exclude: list[str] | None = None) -> Decision:
        """The expert for a request: classified for ``auto``, else the named one; fallback when unreachable."""
        if model == self.options.auto_model:
            started = time.perf_counter()
            unavailable = self.pool.unavailable()
            skip = sorted({*unavailable, *(exclude or [])})
            result = await self.selector.classify(query(), {"exclude": skip} if skip else None)
            took = time.perf_counter() - started
            self.metrics.selection.observe(took)
            decision = Decision(
                result.expert, "classified", confidence=result.confidence, selection_s=took, result=result
            )
            moved = _excluded_from(result.detail)
            if moved and moved in unavailable:
                decision.kind = "fallback"
                decision.fallback_from = moved
                decision.reason = f"no healthy replica of '{moved}'"
                self.metrics.fallbacks.labels(moved, result.expert).inc()
            return decision
        expert = self.manager.get_expert(model)
        if expert is None or not expert.enabled:
            raise self._unknown_model(model, disabled=expert is not None)
        decision = Decision(model, "named")
        if not self.pool.has_available(model):
            fallback = self.classifier.fallback_expert
            if fallback != model and self.pool.has_available(fallback):
                decision = Decision(
                    fallback, "fallback", fallback_from=model, reason=f"no healthy replica of '{model}'"
                )
                self.metrics.fallbacks.labels(model, fallback).inc()
        return decision

    def _unknown_model(self, model: str, *, disabled: bool = False) -> ModelNotFoundError:
        names = ", ".join([self.options.auto_model, *self.expert_names()])
        what = "is disabled" if disabled else "is not an expert of this router"
        return ModelNotFoundError(
            f"The model '{model}' {what}. Use one of: {names}.",
            hint="GET /v1/models lists them; 'auto' lets the router choose.",
            details={"param": "model"},
        )

    # --- the OpenAI endpoints -------------------------------------------------------------------------

    async def openai(self, request: Request[Any, Any, Any], *, chat: bool, request_id: str) -> Response[Any]:
        """``POST /v1/chat/completions`` or ``/v1/completions``: route, forward, answer."""
        scope_state = request.scope["state"]
        t0 = scope_state.get("lf_t0") or time.perf_counter()
        raw = await request.body()
        try:
            payload = _decode(raw)
            body: ChatCompletionRequest | CompletionRequest = (
                msgspec.convert(payload, ChatCompletionRequest) if chat else msgspec.convert(payload, CompletionRequest)
            )
        except msgspec.MsgspecError as exc:
            raise decode_error(exc) from None
        scope_state["lf_model"] = body.model
        decision = await self.decide(body.model, lambda: query_text(body))
        path = "/v1/chat/completions" if chat else "/v1/completions"
        exchanged = await self.exchange(request, payload, path, decision, stream=body.stream, t0=t0, rid=request_id)
        if exchanged is None:
            return Response(content=b"", status_code=499)
        answer, decision = exchanged
        headers = decision.headers()
        if answer.retry_after:
            headers["retry-after"] = answer.retry_after
        if answer.response is not None:
            return self._stream(answer, decision, headers, t0, scope_state)
        content = answer.body
        if decision.fallback_from and answer.status == 200:
            content = _with_field(content, "router", decision.field())
        self._finish(scope_state, decision.expert, answer.status, t0, answer.upstream_s)
        return Response(content=content, status_code=answer.status, media_type=answer.content_type, headers=headers)

    async def exchange(
        self,
        request: Request[Any, Any, Any],
        payload: dict[str, Any],
        path: str,
        decision: Decision,
        *,
        stream: bool,
        t0: float,
        rid: str,
    ) -> tuple[Answer, Decision] | None:
        """Admit and forward (falling back when every replica of the expert failed); None if the client left.

        A streamed answer keeps its admission slot until :meth:`_relay` ends.
        """
        scope_state = request.scope["state"]
        deadline = t0 + self.options.limits.request_timeout_s
        await self._admit(deadline)
        scope_state["lf_counted"] = True
        keep_slot = False
        try:
            exchanged = await self._until_answered(request, payload, path, decision, stream, deadline, rid)
            if exchanged is not None:
                answer, final = exchanged
                self.metrics.decision_of(final.expert, final.kind).inc()
                keep_slot = answer.response is not None
            return exchanged
        except BaseException as exc:
            status = exc.http_status if isinstance(exc, LFError) else 500
            self.metrics.requests.labels(decision.expert, str(status)).inc()
            raise
        finally:
            if not keep_slot:
                await self._release()

    async def _until_answered(
        self,
        request: Request[Any, Any, Any],
        payload: dict[str, Any],
        path: str,
        decision: Decision,
        stream: bool,
        deadline: float,
        request_id: str,
    ) -> tuple[Answer, Decision] | None:
        """The expert's replicas, then the fallback's; None when the client went away meanwhile.

        A watcher task waits for the client's disconnect and cancels the work, so that an
        abandoned request stops costing the replica anything. Every wait inside is bounded
        by the deadline already (upstream timeouts, backoff), so no extra timer is needed.
        """
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            return await self._try_experts(payload, path, decision, stream, deadline, request_id)
        except asyncio.CancelledError:
            if not gone:
                raise
            uncancel = getattr(task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            return None
        finally:
            watcher.cancel()

    async def _try_experts(
        self, payload: dict[str, Any], path: str, decision: Decision, stream: bool, deadline: float, request_id: str
    ) -> tuple[Answer, Decision]:
        fallback = self.classifier.fallback_expert
        while True:
            expert = self.manager.get_expert(decision.expert)
            body = self._with_defaults(payload, expert)
            try:
                answer = await self.fwd.send(
                    decision.expert, path, body, stream=stream, deadline=deadline, request_id=request_id
                )
                return answer, decision
            except ExhaustedError as exc:
                if decision.expert == fallback or not self.pool.replicas(fallback):
                    raise with_retry_after(
                        ModelOverloadedError(
                            f"No replica of expert '{exc.expert}' answered: {exc.reason}.",
                            hint="Check the replicas (GET /experts) or retry after the Retry-After delay.",
                        ),
                        self.options.limits.retry_after_s,
                    ) from None
                original = decision.fallback_from or decision.expert
                self.metrics.fallbacks.labels(original, fallback).inc()
                decision = Decision(
                    fallback,
                    "fallback",
                    fallback_from=original,
                    reason=f"no replica of '{original}' answered ({exc.reason})",
                    confidence=decision.confidence,
                    selection_s=decision.selection_s,
                    result=decision.result,
                )

    def _with_defaults(self, payload: dict[str, Any], expert: ExpertConfig | None) -> dict[str, Any]:
        if expert is None or not self.options.upstream.expert_defaults:
            return payload
        if "max_tokens" in payload or "max_completion_tokens" in payload:
            if "temperature" in payload:
                return payload
            return {**payload, "temperature": expert.temperature}
        out = {**payload, "max_tokens": expert.max_tokens}
        out.setdefault("temperature", expert.temperature)
        return out

    def _finish(self, scope_state: dict[str, Any], expert: str, status: int, t0: float, upstream_s: float) -> None:
        self.metrics.request_of(expert, status).inc()
        self.metrics.overhead.observe(max(0.0, time.perf_counter() - t0 - upstream_s))
        scope_state["lf_expert"] = expert

    def _stream(
        self,
        answer: Answer,
        decision: Decision,
        headers: dict[str, str],
        t0: float,
        scope_state: dict[str, Any],
    ) -> Response[Any]:
        first = answer.first
        if decision.fallback_from:
            first = _first_event_with_field(first, "router", decision.field())
        self.metrics.overhead.observe(max(0.0, time.perf_counter() - t0 - answer.upstream_s))
        events = self._relay(answer, first, decision.expert, scope_state)
        return Stream(
            events,
            status_code=answer.status,
            media_type=answer.content_type or "text/event-stream",
            headers={**_SSE_HEADERS, **headers},
            background=BackgroundTask(events.aclose),
        )

    async def _relay(
        self, answer: Answer, first: bytes, expert: str, scope_state: dict[str, Any]
    ) -> AsyncGenerator[bytes, None]:
        """The replica's stream, chunk by chunk as it arrives; a broken stream ends with an error event."""
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
                self.fwd.stream_failed(answer, exc)
                message = f"The expert '{expert}' stopped answering mid-stream ({type(exc).__name__})."
                yield b"data: " + _encode(error_body("INTERNAL_ERROR", message)) + b"\n\n"
                yield b"data: [DONE]\n\n"
        finally:
            with anyio.CancelScope(shield=True):
                answer.replica.in_flight -= 1
                if answer.response is not None:
                    await answer.response.aclose()
                await self._release()
            self.metrics.request_of(expert, status).inc()
            scope_state["lf_stream_status"] = status
            scope_state["lf_expert"] = expert

    async def _admit(self, deadline: float) -> None:
        admission = self.admission
        if admission.queued == 0 and admission.active < admission.max_active:  # the common case: no waiting
            admission.active += 1
            return
        if not admission.try_admit():
            raise with_retry_after(
                ModelOverloadedError(
                    "The router is at capacity; retry shortly.",
                    hint="Retry after the Retry-After delay, or raise limits.max_queued_requests.",
                ),
                self.options.limits.retry_after_s,
            )
        with anyio.move_on_after(max(0.0, deadline - time.perf_counter())) as scope:
            await self.admission.wait_for_slot()
        if scope.cancelled_caught:
            raise RequestTimeoutError("The request waited too long for a free slot.")

    async def _release(self) -> None:
        if self.admission.queued:  # someone waits for the slot: wake them
            await self.admission.release()
        else:
            self.admission.active -= 1

    # --- /route and /generate ---------------------------------------------------------------------------

    async def route(self, body: RouteRequest) -> RouteResponse:
        """``POST /route``: the decision, its alternatives and the time it took; nothing is forwarded."""
        if body.query is not None:
            text = body.query
        elif body.messages:
            text = query_text(ChatCompletionRequest(model="auto", messages=body.messages))
        elif body.prompt is not None:
            text = body.prompt
        else:
            raise InvalidRequestError(
                "Give the query: ?query=... or a JSON body with query, messages or prompt.", details={"param": "query"}
            )
        decision = await self.decide(self.options.auto_model, lambda: text, exclude=body.exclude)
        result = decision.result
        assert result is not None
        replica = self.pool.peek(decision.expert)
        return RouteResponse(
            expert=decision.expert,
            endpoint=replica.url if replica else None,
            confidence=round(result.confidence, 4),
            method=result.method,
            fallback=result.fallback,
            detail=result.detail,
            alternatives=[Alternative(expert=n, score=round(s, 4)) for n, s in result.alternatives()],
            scores={n: round(s, 4) for n, s in result.scores.items()},
            routing_ms=round(decision.selection_s * 1000, 4),
            unavailable=self.pool.unavailable(),
        )

    async def generate(self, request: Request[Any, Any, Any], request_id: str) -> Response[Any]:
        """``POST /generate`` (SDD 7.1.1): route, forward as a chat or text completion, answer ``{text, expert}``."""
        scope_state = request.scope["state"]
        t0 = scope_state.get("lf_t0") or time.perf_counter()
        try:
            body = msgspec.json.decode(await request.body(), type=GenerateRequest)
        except msgspec.MsgspecError as exc:
            raise decode_error(exc) from None
        if (body.prompt is None) == (not body.messages):
            raise InvalidRequestError("Give either prompt or messages.", details={"param": "prompt"})
        model = body.expert or self.options.auto_model
        payload: dict[str, Any] = {"model": model, "max_tokens": body.max_tokens, "temperature": body.temperature}
        if body.stop is not None:
            payload["stop"] = body.stop
        parsed: ChatCompletionRequest | CompletionRequest
        if body.messages:
            payload["messages"] = msgspec.to_builtins(body.messages)
            parsed = ChatCompletionRequest(model=model, messages=body.messages)
        else:
            payload["prompt"] = body.prompt
            parsed = CompletionRequest(model=model, prompt=body.prompt or "")
        chat = isinstance(parsed, ChatCompletionRequest)
        scope_state["lf_model"] = model
        decision = await self.decide(model, lambda: query_text(parsed))
        path = "/v1/chat/completions" if chat else "/v1/completions"
        exchanged = await self.exchange(request, payload, path, decision, stream=False, t0=t0, rid=request_id)
        if exchanged is None:
            return Response(content=b"", status_code=499)
        answer, decision = exchanged
        self._finish(scope_state, decision.expert, answer.status, t0, answer.upstream_s)
        headers = decision.headers()
        if answer.status != 200:  # the replica's error, as it sent it
            return Response(answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers)
        try:
            data = _decode(answer.body)
            choice = (data.get("choices") or [{}])[0]
            text = choice.get("message", {}).get("content") if chat else choice.get("text")
            usage = data.get("usage") or {}
        except (msgspec.DecodeError, AttributeError, IndexError):
            raise InternalError(f"The expert '{decision.expert}' answered with an unreadable body.") from None
        result = GenerateResponse(
            text=text or "",
            expert=decision.expert,
            tokens_used=usage.get("total_tokens"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason"),
            fallback=decision.kind == "fallback",
            fallback_from=decision.fallback_from,
            confidence=decision.confidence,
            routing_ms=round(decision.selection_s * 1000, 4),
        )
        return Response(content=_encode(result), media_type="application/json", headers=headers)

    # --- models, experts, health -----------------------------------------------------------------------------

    def model_list(self) -> ModelList:
        """``GET /v1/models``: ``auto`` and every enabled expert."""
        cards = [ModelCard(id=self.options.auto_model, owned_by="largeforge-router", type="router", backend="router")]
        for expert in self.manager.list_experts(enabled_only=True):
            root = expert.model_path or expert.base_model
            cards.append(ModelCard(id=expert.name, root=root, type="expert", quantization=expert.quantization))
        return ModelList(data=cards)

    def expert_view(self, expert: ExpertConfig) -> ExpertView:
        """One expert with its replicas and statistics."""
        from lf.experts.store import to_json

        replicas = []
        by_url = {r.url: r for r in self.pool.replicas(expert.name)}
        for endpoint in expert.endpoints:
            from lf_router_hybrid.service.pool import normalize_url

            r = by_url.get(normalize_url(endpoint.url))
            if r is None:  # a disabled expert: not in the pool
                replicas.append(
                    ReplicaView(
                        url=endpoint.url,
                        weight=endpoint.weight,
                        state="disabled",
                        breaker="closed",
                        in_flight=0,
                        latency_ms=None,
                        requests=0,
                        failures=0,
                    )
                )
                continue
            replicas.append(
                ReplicaView(
                    url=r.url,
                    weight=endpoint.weight,
                    state=r.state(),
                    breaker=r.breaker.state,
                    in_flight=r.in_flight,
                    latency_ms=None if r.latency is None else round(r.latency * 1000, 3),
                    requests=r.requests,
                    failures=r.failures,
                    models=r.models,
                    last_error=r.last_error,
                )
            )
        status = msgspec.to_builtins(self.manager.get_expert_status(expert.name))
        return ExpertView(
            name=expert.name,
            description=expert.description,
            endpoint=expert.endpoint,
            domains=list(expert.domains),
            keywords=list(expert.keywords),
            enabled=expert.enabled,
            priority=expert.priority,
            version=expert.version,
            available=self.pool.has_available(expert.name),
            replicas=replicas,
            status=status,
            definition=to_json(expert),
        )

    def experts(self) -> ExpertList:
        """``GET /experts``."""
        error = self.manager.last_error
        return ExpertList(
            experts=[self.expert_view(e) for e in self.manager.list_experts()],
            fallback_expert=self.classifier.fallback_expert,
            registry=str(self.manager.config_path) if self.manager.config_path else None,
            registry_error=error.message if error else None,
        )

    def health(self) -> RouterHealth:
        """``GET /health``: healthy, degraded (some experts unreachable) or unhealthy (none reachable)."""
        names = self.expert_names()
        unavailable = set(self.pool.unavailable())
        reachable = [n for n in names if n not in unavailable]
        reasons = [f"no healthy replica of '{n}'" for n in names if n in unavailable]
        if self.manager.last_error is not None:
            reasons.append(f"registry not reloaded: {self.manager.last_error.message}")
        if not names:
            reasons.append("no expert is registered")
        status = "unhealthy" if not reachable else "degraded" if reasons else "healthy"
        return RouterHealth(
            status=status,
            uptime=round(time.monotonic() - self.started, 3),
            experts=len(names),
            available_experts=len(reachable),
            classifier=self.classifier_name,
            active_requests=self.admission.active,
            queued_requests=self.admission.queued,
            reasons=reasons,
        )

    def ready(self) -> tuple[bool, str | None]:
        """``GET /ready``: whether some expert can answer now."""
        names = self.expert_names()
        if not names:
            return False, "no expert is registered"
        if all(n in set(self.pool.unavailable()) for n in names):
            return False, "no expert has a healthy replica"
        return True, None

    def render_metrics(self) -> bytes:
        """``GET /metrics``."""
        return self.metrics.render(self.pool, self.admission.active, self.admission.queued)


def _excluded_from(detail: str) -> str | None:
    """The expert a classification moved away from (``...,excluded:code``), if any."""
    marker = "excluded:"
    at = detail.rfind(marker)
    return detail[at + len(marker) :].split(",")[0] if at >= 0 else None


def _with_field(body: bytes, name: str, value: Any) -> bytes:
    """``body`` (a JSON object) with one more top-level field; unchanged if it is not one."""
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return body
    if not isinstance(data, dict):
        return body
    data[name] = value
    return _encode(data)


def _first_event_with_field(chunk: bytes, name: str, value: Any) -> bytes:
    """The first SSE ``data:`` event of ``chunk`` with one more field (what a stream says on fallback)."""
    prefix = b"data: "
    start = chunk.find(prefix)
    if start < 0:
        return chunk
    end = chunk.find(b"\n\n", start)
    if end < 0:
        return chunk
    event = chunk[start + len(prefix) : end]
    updated = _with_field(event, name, value)
    return chunk[: start + len(prefix)] + updated + chunk[end:]
