"""The router service's options (msgspec only: imported when ``lf`` starts).

:class:`RouterOptions` extends the core's :class:`lf.serve.ServerOptions` (address, keys
and roles, TLS, CORS, logs, limits) with what a router adds: the registry, the fallback,
balancing, the upstream client, retries, circuit breakers, health checks and the egress
policy. ``lf run route --plugin NAME`` (and ``lf serve router``) merge these with the
classifier's own options, flat: ``--set port=8080 --set threshold=0.4``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from lf.experts.egress import EgressPolicy
from lf.serve.options import MaxConcurrent, MaxQueued, Port, RequestTimeout, ServerOptions, ServiceLimits

Balancing = Literal["round_robin", "least_connections", "latency", "weighted"]

REGISTRY_HELP = (
    "Expert registry YAML; empty: $LF_EXPERTS_FILE, else ~/.cache/largeforge/experts.yaml; "
    "'builtin': the shipped general/code/math/writing experts (no endpoints: /route only)"
)


class RouterLimits(ServiceLimits, kw_only=True, forbid_unknown_fields=True):
    """The router's limits: those of every service, with defaults for a proxy (it only waits on replicas)."""

    max_concurrent_requests: MaxConcurrent = 4096
    max_queued_requests: MaxQueued = 16384
    request_timeout_s: RequestTimeout = 600.0


class UpstreamOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The pooled HTTP client that forwards requests to the experts' replicas."""

    connect_timeout_s: Annotated[
        float, msgspec.Meta(gt=0, description="Seconds to open a connection to a replica (then retry elsewhere)")
    ] = 2.0
    first_byte_timeout_s: (
        Annotated[
            float,
            msgspec.Meta(
                gt=0,
                description="Seconds one attempt may wait for the replica's answer to start before it is retried on "
                "another replica (non-streamed answers start when they are done: set it above the longest "
                "generation); empty: only the request's deadline",
            ),
        ]
        | None
    ) = None
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
    api_key_hosts: Annotated[
        list[str] | None,
        msgspec.Meta(
            description="Hosts (host or host:port) that receive api_key; empty: the hosts in the registry when the "
            "router started (never an endpoint added later through the API)"
        ),
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


class RouterOptions(ServerOptions, kw_only=True, forbid_unknown_fields=True):
    """The router service: an OpenAI-compatible proxy that sends each request to the right expert."""

    port: Port = 8080
    registry: Annotated[str | None, msgspec.Meta(description=REGISTRY_HELP)] = None
    fallback_expert: Annotated[
        str | None, msgspec.Meta(description="The expert that answers when no other fits or is reachable (general)")
    ] = None
    balancing: Annotated[
        Balancing, msgspec.Meta(description="How a replica is chosen among an expert's healthy ones")
    ] = "round_robin"
    auto_model: Annotated[str, msgspec.Meta(description="The `model` that asks the router to choose the expert")] = (
        "auto"
    )
    registry_poll_s: Annotated[
        float,
        msgspec.Meta(gt=0, description="Seconds between two checks of the registry file for other processes' changes"),
    ] = 1.0
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
    egress: Annotated[
        EgressPolicy,
        msgspec.Meta(
            description="Where experts added through the API may point, beyond loopback and the registry's own hosts"
        ),
    ] = msgspec.field(default_factory=EgressPolicy)
