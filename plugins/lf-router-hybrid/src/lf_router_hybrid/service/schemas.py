"""Bodies of the router's own endpoints (``/route``, ``/generate``, ``/experts``) as msgspec Structs.

The OpenAI endpoints reuse :mod:`lf.serve.schemas`. ``/generate`` follows the
requirements' router API (SDD 7.1.1): ``{prompt | messages, max_tokens, temperature,
expert}`` -> ``{text, expert, tokens_used}``, with the routing details added.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from lf.serve.schemas import ChatMessage, FinishReason, MaxTokens, Stop, Temperature


class RouteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /route``: the query (or OpenAI-shaped ``messages`` / ``prompt``)."""

    query: str | None = None
    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    #: Experts not to choose (as if they had no healthy replica).
    exclude: Annotated[list[str], msgspec.Meta(max_length=1000)] = []
    #: OpenAI fields a client may send along with ``messages`` (ignored by ``/route``).
    model: str | None = None


class Alternative(msgspec.Struct, kw_only=True):
    """Another expert the query could have gone to."""

    expert: str
    score: float


class RouteResponse(msgspec.Struct, kw_only=True):
    """The routing decision, without forwarding anything."""

    expert: str
    #: The replica a request would go to now (None: no healthy replica).
    endpoint: str | None
    confidence: float
    method: str
    #: True when the fallback expert was chosen (nothing fitted, or no healthy replica).
    fallback: bool
    #: The expert chosen first but skipped (no healthy replica, or in ``exclude``).
    fallback_from: str | None
    detail: str
    alternatives: list[Alternative]
    scores: dict[str, float]
    #: Time the classification took, in milliseconds.
    routing_ms: float
    #: Experts skipped because none of their replicas is healthy.
    unavailable: list[str] = []


class GenerateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /generate`` (SDD 7.1.1): a prompt or chat messages; ``expert`` skips classification."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    max_tokens: MaxTokens = 512
    temperature: Temperature = 0.7
    expert: str | None = None
    stop: Stop | None = None


class GenerateResponse(msgspec.Struct, kw_only=True):
    """``POST /generate``: the text, the expert that wrote it and the tokens used."""

    text: str
    expert: str
    tokens_used: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: FinishReason | None = None
    fallback: bool = False
    #: The expert that should have answered when the fallback did.
    fallback_from: str | None = None
    confidence: float | None = None
    routing_ms: float = 0.0


class ReplicaView(msgspec.Struct, kw_only=True):
    """One replica as ``GET /experts`` shows it."""

    url: str
    weight: float
    #: up, loading, down, open, half_open or unknown (not checked yet).
    state: str
    breaker: str
    in_flight: int
    latency_ms: float | None
    requests: int
    failures: int
    models: list[str] | None = None
    last_error: str | None = None


class ExpertView(msgspec.Struct, kw_only=True):
    """One expert: its registry definition, its replicas and what the router measured."""

    name: str
    description: str
    endpoint: str | None
    domains: list[str]
    keywords: list[str]
    enabled: bool
    priority: int
    version: int
    #: Whether a request can be forwarded to it now (some replica is available).
    available: bool
    replicas: list[ReplicaView]
    status: dict[str, Any]
    definition: dict[str, Any]


class ExpertList(msgspec.Struct, kw_only=True):
    """``GET /experts``."""

    experts: list[ExpertView]
    fallback_expert: str
    registry: str | None
    registry_error: str | None = None


class RouterHealth(msgspec.Struct, kw_only=True):
    """``GET /health``: healthy (every enabled expert reachable), degraded (some not) or unhealthy (none)."""

    status: Literal["healthy", "degraded", "unhealthy"]
    uptime: float
    experts: int
    available_experts: int
    classifier: str
    active_requests: int
    queued_requests: int
    reasons: list[str] = []
