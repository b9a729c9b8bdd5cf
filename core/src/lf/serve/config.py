"""Options every inference backend shares; imports only msgspec (registration stays cheap).

A backend's config extends :class:`ServeConfig`, so ``model``, ``host``, ``port``,
``api_keys`` and the limits mean the same for every backend::

    class HFConfig(ServeConfig, kw_only=True, forbid_unknown_fields=True):
        dtype: str = "auto"

The server options themselves (address, keys, TLS, limits) are :class:`ServerOptions`,
which the router extends too.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from lf.serve.options import LOOPBACK_HOSTS, MIN_KEY_LENGTH, ServerOptions, ServiceLimits

__all__ = ["LOOPBACK_HOSTS", "MIN_KEY_LENGTH", "LimitsConfig", "RequestDefaults", "ServeConfig", "ServiceLimits"]


class LimitsConfig(ServiceLimits, kw_only=True, forbid_unknown_fields=True):
    """A model server's limits: the shared ones plus how a stalled or slow engine is detected."""

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


class RequestDefaults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Sampling values used when a request leaves them out.

    Unset, OpenAI's defaults apply (temperature 1.0, top_p 1.0, no top_k, as long as the
    context allows), which is what API clients expect. The requirements' defaults are
    temperature 0.7, top_p 0.9, top_k 50, max_tokens 256: set them here to serve those.
    """

    temperature: Annotated[float, msgspec.Meta(ge=0, le=2, description="Default temperature.")] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1, description="Default top_p.")] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=-1, le=1 << 20, description="Default top_k (-1: none).")] | None = None
    max_tokens: (
        Annotated[int, msgspec.Meta(ge=1, le=1 << 24, description="Default max_tokens (empty: up to the context).")]
        | None
    ) = None


class ServeConfig(ServerOptions, kw_only=True, forbid_unknown_fields=True):
    """What every ``lf run serve --plugin NAME`` understands."""

    model: Annotated[str, msgspec.Meta(description="Model directory (Hugging Face format), hub id, tiny or smollm2.")]
    served_model_name: Annotated[
        str | None, msgspec.Meta(description="The name clients pass as `model` (default: the directory's name).")
    ] = None
    adapters: Annotated[
        dict[str, str],
        msgspec.Meta(description="LoRA adapters to load at start, name: directory; clients select one by `model`."),
    ] = msgspec.field(default_factory=dict)
    model_root: Annotated[
        str | None,
        msgspec.Meta(
            description="Admin loads of models and adapters must lie under this directory "
            "(default: the directory holding `model`)."
        ),
    ] = None
    defaults: Annotated[RequestDefaults, msgspec.Meta(description="Sampling values for requests that omit them.")] = (
        msgspec.field(default_factory=RequestDefaults)
    )
    limits: Annotated[LimitsConfig, msgspec.Meta(description="Load shedding, deadlines and rate limits.")] = (
        msgspec.field(default_factory=LimitsConfig)
    )
