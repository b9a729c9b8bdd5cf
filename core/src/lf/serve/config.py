"""Options every inference backend shares; imports only msgspec (registration stays cheap).

A backend's config extends :class:`ServeConfig`, so ``model``, ``host``, ``port``,
``api_keys`` and the limits mean the same for every backend::

    class HFConfig(ServeConfig, kw_only=True, forbid_unknown_fields=True):
        dtype: str = "auto"
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

#: Hosts that only this machine can reach: with no API key configured, auth is off there.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "ip6-localhost"})

#: The minimum length of an API key (SRS-S-001).
MIN_KEY_LENGTH = 32


class LimitsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Load shedding, deadlines, body size and rate limits."""

    max_concurrent_requests: Annotated[
        int, msgspec.Meta(ge=1, description="Requests handed to the backend at once (it batches them).")
    ] = 64
    max_queued_requests: Annotated[
        int,
        msgspec.Meta(
            ge=0, description="Requests waiting for a slot; past in-flight + queued, 503 MODEL_OVERLOADED at once."
        ),
    ] = 256
    request_timeout_s: Annotated[
        float, msgspec.Meta(gt=0, description="Total deadline of one request, queueing included (then 504 TIMEOUT).")
    ] = 300.0
    max_body_bytes: Annotated[
        int, msgspec.Meta(ge=1024, description="Largest accepted request body (then 413 PAYLOAD_TOO_LARGE).")
    ] = 4 * 1024 * 1024
    rate_limit_per_minute: Annotated[
        int | None,
        msgspec.Meta(description="Requests per minute per API key (per client address without keys); null: no limit."),
    ] = None
    rate_limit_burst: Annotated[
        int | None, msgspec.Meta(description="Requests allowed in a burst (default: the per-minute limit).")
    ] = None
    retry_after_s: Annotated[
        int, msgspec.Meta(ge=1, description="Retry-After (seconds) sent with 503 MODEL_OVERLOADED.")
    ] = 1
    stall_timeout_s: Annotated[
        float,
        msgspec.Meta(
            gt=0, description="Work pending but no token produced for this long: /ready answers 503 (engine stalled)."
        ),
    ] = 60.0
    slow_ttft_s: Annotated[
        float,
        msgspec.Meta(
            gt=0, description="/health says degraded when the recent median time to first token exceeds this."
        ),
    ] = 10.0


class ServeConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What every ``lf run serve --plugin NAME`` understands."""

    model: Annotated[str, msgspec.Meta(description="Model directory (Hugging Face format) or hub id.")]
    host: Annotated[str, msgspec.Meta(description="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535, description="TCP port to listen on.")] = 8000
    served_model_name: Annotated[
        str | None, msgspec.Meta(description="The name clients pass as `model` (default: the directory's name).")
    ] = None
    adapters: Annotated[
        dict[str, str],
        msgspec.Meta(description="LoRA adapters to load at start, name: directory; clients select one by `model`."),
    ] = {}
    api_keys: Annotated[
        list[str],
        msgspec.Meta(
            description="Accepted API keys (32+ characters; also LARGEFORGE_API_KEY). None on 127.0.0.1: auth off."
        ),
    ] = []
    admin_keys: Annotated[
        list[str],
        msgspec.Meta(description="Keys allowed to load/unload models and adapters (API keys are not, by default)."),
    ] = []
    user_keys_are_admin: Annotated[
        bool,
        msgspec.Meta(description="Let every API key call the admin endpoints too (off: only admin_keys may)."),
    ] = False
    allow_unauthenticated: Annotated[
        bool,
        msgspec.Meta(description="Allow listening beyond loopback without API keys (otherwise the server refuses)."),
    ] = False
    cors_origins: Annotated[
        list[str], msgspec.Meta(description="Origins allowed by CORS (e.g. https://app.example.com, or *).")
    ] = []
    log_format: Annotated[
        Literal["json", "text"], msgspec.Meta(description="Access and server log format on stderr.")
    ] = "json"
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"], msgspec.Meta(description="Server log level.")
    ] = "info"
    graceful_shutdown_s: Annotated[
        float, msgspec.Meta(ge=0, description="On Ctrl-C/SIGTERM, how long running requests may finish.")
    ] = 10.0
    limits: Annotated[LimitsConfig, msgspec.Meta(description="Load shedding, deadlines and rate limits.")] = (
        msgspec.field(default_factory=LimitsConfig)
    )
