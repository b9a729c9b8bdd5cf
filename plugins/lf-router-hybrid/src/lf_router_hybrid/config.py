"""Options of the three classifiers and of the router service (msgspec only: imported when ``lf`` starts).

Each classifier has two configs: ``KeywordConfig``/``NeuralConfig``/``HybridConfig`` (the
classifier alone, for Python use) and ``KeywordRouterConfig``/``NeuralRouterConfig``/
``HybridRouterConfig``: the same plus :class:`ServiceOptions` (address, keys, limits,
balancing, retries, circuit breaker, health checks) as top-level fields - what
``lf run route --plugin hybrid --config router.yaml`` and ``lf serve router`` read, so that
``LF_HYBRID_API_KEYS`` and ``LF_HYBRID_PORT`` set them like any other option.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any, Literal

import msgspec

from lf.serve.config import MIN_KEY_LENGTH

REGISTRY_HELP = (
    "Expert registry YAML; empty: $LF_EXPERTS_FILE, else ~/.cache/largeforge/experts.yaml when it "
    "exists, else the built-in general/code/math/writing experts ('builtin' forces those)"
)


class KeywordOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the keyword classifier matches."""

    case_sensitive: Annotated[bool, msgspec.Meta(description="Match letter case exactly")] = False
    plurals: Annotated[bool, msgspec.Meta(description="'bug' also matches 'bugs'")] = True
    evidence_scale: Annotated[
        float, msgspec.Meta(gt=0, description="Matched keyword weight that gives 63% evidence")
    ] = 1.0


class KeywordConfig(KeywordOptions, kw_only=True, forbid_unknown_fields=True):
    """Options of the keyword classifier."""

    registry: Annotated[str | None, msgspec.Meta(description=REGISTRY_HELP)] = None
    fallback_expert: Annotated[
        str | None, msgspec.Meta(description="Where unmatched queries go (default: general)")
    ] = None


class NeuralOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the neural classifier embeds and decides."""

    model_path: Annotated[
        str | None,
        msgspec.Meta(description="BERT sentence-encoder directory; empty: all-MiniLM-L6-v2 from its wheel"),
    ] = None
    state: Annotated[
        str | None, msgspec.Meta(description="A directory written by NeuralClassifier.save_state (trained)")
    ] = None
    threshold: Annotated[
        float, msgspec.Meta(ge=-1, le=1, description="Abstain below this similarity (until fit_thresholds)")
    ] = 0.1
    k: Annotated[int, msgspec.Meta(ge=1, description="Nearest exemplars averaged per expert")] = 5
    cache_size: Annotated[int, msgspec.Meta(ge=0, description="Query embeddings kept in the LRU cache")] = 10_000
    batch_size: Annotated[int, msgspec.Meta(ge=1, description="Texts per forward pass")] = 64
    max_length: Annotated[int, msgspec.Meta(ge=8, le=512, description="Tokens kept per query")] = 128
    precision: Annotated[
        Literal["float32", "int8", "bfloat16"],
        msgspec.Meta(description="Encoder precision: int8 is ~3x faster per query, within ~0.02 cosine"),
    ] = "float32"
    num_threads: Annotated[
        int | None, msgspec.Meta(description="torch threads (1 is fastest per query on a busy CPU); empty: default")
    ] = None


class NeuralConfig(NeuralOptions, kw_only=True, forbid_unknown_fields=True):
    """Options of the neural (sentence-embedding) classifier."""

    registry: Annotated[str | None, msgspec.Meta(description=REGISTRY_HELP)] = None
    fallback_expert: Annotated[
        str | None, msgspec.Meta(description="Where low-confidence queries go (default: general)")
    ] = None


class HybridConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of the hybrid classifier (keyword fast path + neural)."""

    registry: Annotated[str | None, msgspec.Meta(description=REGISTRY_HELP)] = None
    fallback_expert: Annotated[
        str | None, msgspec.Meta(description="Where unclassifiable queries go (default: general)")
    ] = None
    keyword_weight: Annotated[float, msgspec.Meta(ge=0, description="Weight of keyword scores")] = 0.4
    neural_weight: Annotated[float, msgspec.Meta(ge=0, description="Weight of neural scores")] = 0.6
    keyword_threshold: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Keyword confidence that skips the neural pass")
    ] = 0.8
    disagreement_penalty: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Confidence lost when keyword and neural disagree")
    ] = 0.3
    keyword: Annotated[KeywordOptions, msgspec.Meta(description="Keyword matching")] = msgspec.field(
        default_factory=KeywordOptions
    )
    neural: Annotated[NeuralOptions, msgspec.Meta(description="Neural classification")] = msgspec.field(
        default_factory=NeuralOptions
    )


# --- the router service -----------------------------------------------------------------------------

Balancing = Literal["round_robin", "least_connections", "latency", "weighted"]


class RouterLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Load shedding, deadlines, body size and rate limits of the router (names as in ``lf serve``)."""

    max_concurrent_requests: Annotated[
        int, msgspec.Meta(ge=1, description="Requests forwarded at once (past it they wait in the queue)")
    ] = 4096
    max_queued_requests: Annotated[
        int, msgspec.Meta(ge=0, description="Requests waiting for a slot; past both, 503 MODEL_OVERLOADED at once")
    ] = 16384
    request_timeout_s: Annotated[
        float, msgspec.Meta(gt=0, description="Total deadline of one request, retries included (then 504 TIMEOUT)")
    ] = 600.0
    max_body_bytes: Annotated[
        int, msgspec.Meta(ge=1024, description="Largest accepted request body (then 413 PAYLOAD_TOO_LARGE)")
    ] = 4 * 1024 * 1024
    rate_limit_per_minute: Annotated[
        int | None, msgspec.Meta(description="Requests per minute per API key (per client address without keys)")
    ] = None
    rate_limit_burst: Annotated[
        int | None, msgspec.Meta(description="Requests allowed in a burst (default: the per-minute limit)")
    ] = None
    retry_after_s: Annotated[int, msgspec.Meta(ge=1, description="Retry-After (seconds) sent with a 503")] = 1


class UpstreamOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The pooled HTTP client that forwards requests to the experts' replicas."""

    connect_timeout_s: Annotated[
        float, msgspec.Meta(gt=0, description="Seconds to open a connection to a replica (then retry elsewhere)")
    ] = 2.0
    max_connections: Annotated[
        int, msgspec.Meta(ge=1, description="Connections to all replicas together (more requests wait for one)")
    ] = 512
    max_keepalive_connections: Annotated[
        int, msgspec.Meta(ge=0, description="Idle connections kept open for reuse")
    ] = 256
    keepalive_expiry_s: Annotated[float, msgspec.Meta(gt=0, description="Seconds an idle connection is kept")] = 30.0
    api_key: Annotated[
        str | None,
        msgspec.Meta(description="Key sent to the replicas (Authorization: Bearer); clients' keys are never forwarded"),
    ] = None
    expert_defaults: Annotated[
        bool,
        msgspec.Meta(description="Apply an expert's max_tokens and temperature when a request leaves them out"),
    ] = True


class RetryOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Retries of connection failures and timeouts, only before the client received a byte."""

    attempts: Annotated[
        int, msgspec.Meta(ge=1, description="Tries per expert, the first included (each on another replica if any)")
    ] = 3
    backoff_s: Annotated[float, msgspec.Meta(ge=0, description="First backoff; doubled at each retry (jittered)")] = (
        0.05
    )
    max_backoff_s: Annotated[float, msgspec.Meta(ge=0, description="Longest backoff between two tries")] = 1.0


class BreakerOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The circuit breaker of each replica: closed -> open -> half-open -> closed."""

    failure_threshold: Annotated[
        int, msgspec.Meta(ge=1, description="Consecutive failures (requests or health checks) that open it")
    ] = 3
    open_timeout_s: Annotated[
        float, msgspec.Meta(gt=0, description="Seconds open before one trial request or health check (half-open)")
    ] = 5.0


class HealthCheckOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Background checks of every replica's /health and /ready."""

    interval_s: Annotated[float, msgspec.Meta(gt=0, description="Seconds between two checks of a replica")] = 2.0
    timeout_s: Annotated[float, msgspec.Meta(gt=0, description="Seconds a check may take before it fails")] = 2.0


class ServiceOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Everything the router service adds to a classifier's options."""

    host: Annotated[str, msgspec.Meta(description="Address to listen on (127.0.0.1: this machine only)")] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535, description="TCP port to listen on")] = 8080
    api_keys: Annotated[
        list[str] | str,
        msgspec.Meta(
            description=f"Accepted API keys ({MIN_KEY_LENGTH}+ characters; a comma-separated string works too, "
            "e.g. LF_HYBRID_API_KEYS=k1,k2; also LARGEFORGE_API_KEY). None on 127.0.0.1: auth off"
        ),
    ] = []
    admin_keys: Annotated[
        list[str], msgspec.Meta(description="Keys allowed to POST/DELETE /experts (API keys are not, by default)")
    ] = []
    user_keys_are_admin: Annotated[
        bool, msgspec.Meta(description="Let every API key change the experts too (off: only admin_keys may)")
    ] = False
    allow_unauthenticated: Annotated[
        bool, msgspec.Meta(description="Allow listening beyond loopback without API keys (otherwise refused)")
    ] = False
    cors_origins: Annotated[list[str], msgspec.Meta(description="Origins allowed by CORS")] = []
    balancing: Annotated[
        Balancing,
        msgspec.Meta(description="How a replica is chosen among an expert's healthy ones"),
    ] = "round_robin"
    auto_model: Annotated[str, msgspec.Meta(description="The `model` that asks the router to choose the expert")] = (
        "auto"
    )
    registry_poll_s: Annotated[
        float,
        msgspec.Meta(gt=0, description="Seconds between two checks of the registry file for other processes' changes"),
    ] = 1.0
    log_format: Annotated[Literal["json", "text"], msgspec.Meta(description="Access and router log format")] = "json"
    log_level: Annotated[Literal["debug", "info", "warning", "error"], msgspec.Meta(description="Router log level")] = (
        "info"
    )
    graceful_shutdown_s: Annotated[
        float, msgspec.Meta(ge=0, description="On Ctrl-C/SIGTERM, how long running requests may finish")
    ] = 10.0
    limits: Annotated[RouterLimits, msgspec.Meta(description="Load shedding, deadlines and rate limits")] = (
        msgspec.field(default_factory=RouterLimits)
    )
    upstream: Annotated[UpstreamOptions, msgspec.Meta(description="Forwarding to the replicas")] = msgspec.field(
        default_factory=UpstreamOptions
    )
    retries: Annotated[RetryOptions, msgspec.Meta(description="Retries before the first byte")] = msgspec.field(
        default_factory=RetryOptions
    )
    breaker: Annotated[BreakerOptions, msgspec.Meta(description="Circuit breaker per replica")] = msgspec.field(
        default_factory=BreakerOptions
    )
    health_checks: Annotated[
        HealthCheckOptions, msgspec.Meta(description="Background health checks of the replicas")
    ] = msgspec.field(default_factory=HealthCheckOptions)


@functools.cache
def _service_fields() -> tuple[Any, ...]:
    """The fields of :class:`ServiceOptions` as ``defstruct`` takes them (computed once)."""
    hints = typing.get_type_hints(ServiceOptions, include_extras=True)
    fields: list[Any] = []
    for info in msgspec.structs.fields(ServiceOptions):
        if info.default_factory is not msgspec.NODEFAULT:
            fields.append((info.name, hints[info.name], msgspec.field(default_factory=info.default_factory)))
        else:
            fields.append((info.name, hints[info.name], info.default))
    return tuple(fields)


def _with_service(base: type[msgspec.Struct], name: str, doc: str) -> type[msgspec.Struct]:
    """``base`` plus every field of :class:`ServiceOptions` (one definition, several router configs)."""
    cls = msgspec.defstruct(
        name, list(_service_fields()), bases=(base,), kw_only=True, forbid_unknown_fields=True, module=__name__
    )
    cls.__doc__ = doc
    return cls


KeywordRouterConfig = _with_service(
    KeywordConfig,
    "KeywordRouterConfig",
    "The router service with the keyword classifier (`lf run route --plugin keyword`).",
)
NeuralRouterConfig = _with_service(
    NeuralConfig,
    "NeuralRouterConfig",
    "The router service with the neural classifier (`lf run route --plugin neural`).",
)
HybridRouterConfig = _with_service(
    HybridConfig,
    "HybridRouterConfig",
    "The router service with the hybrid classifier (`lf run route --plugin hybrid`).",
)


class PluginClassifierOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What every classifier understands: for a plugin's classifier that declares no options."""

    registry: Annotated[str | None, msgspec.Meta(description=REGISTRY_HELP)] = None
    fallback_expert: Annotated[
        str | None, msgspec.Meta(description="Where unmatched queries go (default: general)")
    ] = None


@functools.cache
def plugin_router_config() -> type[msgspec.Struct]:
    """The router service's config for a plugin's classifier (built on first use: imports stay cheap)."""
    return _with_service(
        PluginClassifierOptions,
        "PluginRouterConfig",
        "The router service with a plugin's classifier (`lf serve router --classifier NAME`).",
    )


def service_options(config: Any) -> ServiceOptions:
    """The :class:`ServiceOptions` part of a router config (or ``config`` itself)."""
    if isinstance(config, ServiceOptions):
        return config
    return ServiceOptions(**{name: getattr(config, name) for name in ServiceOptions.__struct_fields__})
