"""The router's own API beside OpenAI's: ``/route`` (decide only), ``/generate`` (SDD 7.1.1), the views.

``/route`` answers the decision for a query without forwarding anything; ``/generate``
takes ``{prompt | messages, max_tokens, temperature, expert}`` and answers ``{text,
expert, tokens_used}`` with the routing details; ``/v1/models`` and ``/experts`` show
what the router serves and how its replicas are doing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response

from lf.errors import InternalError, InvalidRequestError
from lf.experts import ExpertConfig
from lf.experts.store import to_json
from lf.serve.schemas import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from lf.serve.validation import check_prompt_size, query_text
from lf.serve.wire import encode
from lf_router_hybrid.service.decide import classify, decide
from lf_router_hybrid.service.pool import normalize_url
from lf_router_hybrid.service.schemas import (
    Alternative,
    ExpertList,
    ExpertView,
    GenerateRequest,
    GenerateResponse,
    ReplicaView,
    RouteRequest,
    RouteResponse,
)

if TYPE_CHECKING:
    from lf_router_hybrid.service.proxy import Proxy
    from lf_router_hybrid.service.router import RouterService

_decode = msgspec.json.Decoder().decode


async def route(router: RouterService, body: RouteRequest) -> RouteResponse:
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
    if len(text) > router.options.limits.max_prompt_chars:
        raise InvalidRequestError("The query is longer than limits.max_prompt_chars.", details={"param": "query"})
    decision = await classify(router, text, exclude=body.exclude)
    result = decision.result
    assert result is not None
    replica = router.pool.peek(decision.expert)
    return RouteResponse(
        expert=decision.expert,
        endpoint=replica.url if replica else None,
        confidence=round(result.confidence, 4),
        method=result.method,
        fallback=result.fallback,
        fallback_from=result.fallback_from,
        detail=result.detail,
        alternatives=[Alternative(expert=n, score=round(s, 4)) for n, s in result.alternatives()],
        scores={n: round(s, 4) for n, s in result.scores.items()},
        routing_ms=round(decision.selection_s * 1000, 4),
        unavailable=router.pool.unavailable(),
    )


async def generate(
    proxy: Proxy, request: Request[Any, Any, Any], body: GenerateRequest, request_id: str
) -> Response[Any]:
    """``POST /generate``: route, forward as a chat or text completion, answer ``{text, expert, ...}``."""
    router = proxy.router
    if (body.prompt is None) == (not body.messages):
        raise InvalidRequestError("Give either prompt or messages.", details={"param": "prompt"})
    model = body.expert or router.options.auto_model
    parsed: ChatCompletionRequest | CompletionRequest
    common: dict[str, Any] = {"model": model, "max_tokens": body.max_tokens, "temperature": body.temperature}
    if body.stop is not None:
        common["stop"] = body.stop
    if body.messages:
        parsed = ChatCompletionRequest(messages=body.messages, **common)
    else:
        parsed = CompletionRequest(prompt=body.prompt or "", **common)
    check_prompt_size(parsed, router.options.limits.max_prompt_chars)
    chat = isinstance(parsed, ChatCompletionRequest)
    decision = await decide(router, model, lambda: query_text(parsed))
    request.scope["state"]["lf_model"] = model
    path = "/v1/chat/completions" if chat else "/v1/completions"
    payload = msgspec.to_builtins(parsed)
    answer, decision = await proxy.exchange(request, payload, path, decision, stream=False, rid=request_id)
    proxy.finish(request.scope["state"], decision.expert, answer.status, answer.upstream_s)
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
    return Response(content=encode(result), media_type="application/json", headers=headers)


def model_list(router: RouterService) -> ModelList:
    """``GET /v1/models``: ``auto`` and every enabled expert."""
    cards = [ModelCard(id=router.options.auto_model, owned_by="largeforge-router", type="router", backend="router")]
    for expert in router.manager.list_experts(enabled_only=True):
        root = expert.model_path or expert.base_model
        cards.append(ModelCard(id=expert.name, root=root, type="expert", quantization=expert.quantization))
    return ModelList(data=cards)


def _replica_view(router: RouterService, url: str, weight: float, expert: str) -> ReplicaView:
    replica = {r.url: r for r in router.pool.replicas(expert)}.get(normalize_url(url))
    if replica is None:  # a disabled expert: not in the pool
        return ReplicaView(
            url=url,
            weight=weight,
            state="disabled",
            breaker="closed",
            in_flight=0,
            latency_ms=None,
            requests=0,
            failures=0,
        )
    return ReplicaView(
        url=replica.url,
        weight=weight,
        state=replica.state(),
        breaker=replica.breaker.state,
        in_flight=replica.in_flight,
        latency_ms=None if replica.latency is None else round(replica.latency * 1000, 3),
        requests=replica.requests,
        failures=replica.failures,
        models=replica.models,
        last_error=replica.last_error,
    )


def expert_view(router: RouterService, expert: ExpertConfig) -> ExpertView:
    """One expert with its replicas and statistics."""
    return ExpertView(
        name=expert.name,
        description=expert.description,
        endpoint=expert.endpoint,
        domains=list(expert.domains),
        keywords=list(expert.keywords),
        enabled=expert.enabled,
        priority=expert.priority,
        version=expert.version,
        available=router.pool.has_available(expert.name),
        replicas=[_replica_view(router, e.url, e.weight, expert.name) for e in expert.endpoints],
        status=msgspec.to_builtins(router.manager.get_expert_status(expert.name)),
        definition=to_json(expert),
    )


def expert_list(router: RouterService) -> ExpertList:
    """``GET /experts``."""
    error = router.manager.last_error
    return ExpertList(
        experts=[expert_view(router, e) for e in router.manager.list_experts()],
        fallback_expert=router.classifier.fallback_expert,
        registry=router.manager.location if router.manager.store is not None else None,
        registry_error=error.message if error else None,
    )
