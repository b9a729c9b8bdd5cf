"""Options every ``lf`` HTTP service shares: the model server and the router (msgspec only).

:class:`ServerOptions` is the one definition of address, keys, roles, TLS, CORS, logs,
shutdown and :class:`ServiceLimits`. A model server's config (:class:`lf.serve.ServeConfig`)
and the router's options both extend it, so ``host``, ``api_keys`` or
``limits.max_body_bytes`` mean the same everywhere. A service whose defaults differ
re-declares just those fields with the shared types below::

    class RouterLimits(ServiceLimits, kw_only=True, forbid_unknown_fields=True):
        max_concurrent_requests: MaxConcurrent = 4096

Importing this module costs only msgspec: registration and ``lf --help`` stay fast.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

#: Hosts that only this machine can reach: with no API key configured, auth is off there.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "ip6-localhost"})

#: The minimum length of an API key (SRS-S-001).
MIN_KEY_LENGTH = 32

MaxConcurrent = Annotated[
    int, msgspec.Meta(ge=1, description="Requests handled at once; past it they wait in the queue.")
]
MaxQueued = Annotated[
    int, msgspec.Meta(ge=0, description="Requests waiting for a slot; past both, 503 MODEL_OVERLOADED at once.")
]
RequestTimeout = Annotated[
    float, msgspec.Meta(gt=0, description="Total deadline of one request, queueing included (then 504 TIMEOUT).")
]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535, description="TCP port to listen on (0 picks a free one).")]


class ServiceLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Load shedding, deadlines, request size and rate limits of one service."""

    max_concurrent_requests: MaxConcurrent = 64
    max_queued_requests: MaxQueued = 256
    request_timeout_s: RequestTimeout = 300.0
    max_body_bytes: Annotated[
        int, msgspec.Meta(ge=1024, description="Largest accepted request body (then 413 PAYLOAD_TOO_LARGE).")
    ] = 4 * 1024 * 1024
    max_prompt_chars: Annotated[
        int,
        msgspec.Meta(ge=1, description="Longest prompt, in characters of all messages together (then 400)."),
    ] = 1_000_000
    rate_limit_per_minute: (
        Annotated[
            int, msgspec.Meta(ge=1, description="Requests per minute per API key (per client address without keys).")
        ]
        | None
    ) = None
    rate_limit_burst: (
        Annotated[int, msgspec.Meta(ge=1, description="Requests allowed in a burst (default: the per-minute limit).")]
        | None
    ) = None
    rate_limit_store: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(memory|(redis|rediss|unix)://\S+)$",
            description="Where the rate-limit counters live: 'memory' (this process) or redis://HOST:PORT/DB, "
            "shared by every replica so that the limit holds across them (per replica again while Redis is away).",
        ),
    ] = "memory"
    retry_after_s: Annotated[
        int, msgspec.Meta(ge=1, description="Retry-After (seconds) sent with 503 MODEL_OVERLOADED.")
    ] = 1


class ServerOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Address, keys and roles, TLS, CORS, logs, shutdown and limits of an ``lf`` HTTP service."""

    host: Annotated[str, msgspec.Meta(description="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1"
    port: Port = 8000
    api_keys: Annotated[
        list[str] | str,
        msgspec.Meta(
            description=f"Accepted API keys ({MIN_KEY_LENGTH}+ characters; a comma-separated string works too; "
            "also LARGEFORGE_API_KEY). None on 127.0.0.1: auth off."
        ),
    ] = []
    admin_keys: Annotated[
        list[str] | str,
        msgspec.Meta(
            description="Keys allowed to call the admin endpoints (API keys are not, by default); "
            "a comma-separated string works too."
        ),
    ] = []
    user_keys_are_admin: Annotated[
        bool, msgspec.Meta(description="Let every API key call the admin endpoints too (off: only admin_keys may).")
    ] = False
    allow_unauthenticated: Annotated[
        bool,
        msgspec.Meta(description="Allow listening beyond loopback without API keys (otherwise the server refuses)."),
    ] = False
    metrics_need_key: Annotated[
        bool, msgspec.Meta(description="/metrics asks for an API key like the API does (when keys are configured).")
    ] = False
    ssl_certfile: Annotated[
        str | None, msgspec.Meta(description="TLS certificate (PEM) to serve HTTPS; needs ssl_keyfile.")
    ] = None
    ssl_keyfile: Annotated[str | None, msgspec.Meta(description="TLS private key (PEM) of ssl_certfile.")] = None
    cors_origins: Annotated[
        list[str], msgspec.Meta(description="Origins allowed by CORS (e.g. https://app.example.com, or *).")
    ] = []
    log_format: Annotated[Literal["json", "text"], msgspec.Meta(description="Access and server log format.")] = "json"
    log_level: Annotated[Literal["debug", "info", "warning", "error"], msgspec.Meta(description="Log level.")] = "info"
    graceful_shutdown_s: Annotated[
        float, msgspec.Meta(ge=0, description="On Ctrl-C/SIGTERM, how long running requests may finish.")
    ] = 10.0
    limits: Annotated[ServiceLimits, msgspec.Meta(description="Load shedding, deadlines and rate limits.")] = (
        msgspec.field(default_factory=ServiceLimits)
    )
