"""The router service: an OpenAI-compatible proxy that sends each request to the right expert.

``lf run route --plugin NAME`` or ``lf serve router --classifier NAME`` start it for any
registered classifier (:mod:`~lf_router_hybrid.service.runner`); :func:`create_router_app`
builds the Litestar app for Python use and tests. It is a service of the core's serving
layer (:mod:`lf.serve.service`); the modules here, one job each: ``options`` (the router's
settings), ``router`` (the service: registry, classifier, replicas, health), ``decide``
(which expert and why), ``proxy`` (the life of a request), ``router_api`` (``/route``,
``/generate``, views), ``forward`` (httpx, retries), ``pool`` (replicas, balancing),
``breaker``, ``health_checks``, ``egress`` (where the router may send requests and its key),
``selector`` (classification off the event loop), ``metrics``, ``schemas``, ``app``.
Importing this package is cheap; Litestar and httpx load with :func:`create_router_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lf_router_hybrid.service.app import create_router_app
    from lf_router_hybrid.service.router import RouterService

__all__ = ["RouterService", "create_router_app"]


def __getattr__(name: str) -> Any:
    if name == "create_router_app":
        from lf_router_hybrid.service.app import create_router_app

        return create_router_app
    if name == "RouterService":
        from lf_router_hybrid.service.router import RouterService

        return RouterService
    raise AttributeError(name)
