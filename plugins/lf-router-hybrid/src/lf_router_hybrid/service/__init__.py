"""The router service: an OpenAI-compatible proxy that sends each request to the right expert.

``lf run route --plugin hybrid --config router.yaml`` or ``lf serve router`` start it
(:mod:`lf_router_hybrid.service.runner`); :func:`create_router_app` builds the Litestar
app for Python use and tests. The modules, one job each: ``state`` (the life of a
request), ``forward`` (httpx, retries), ``pool`` (replicas, balancing), ``breaker``,
``selector`` (classification off the event loop), ``metrics``, ``schemas``, ``app``.
Importing this package is cheap; Litestar and httpx load with :func:`create_router_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lf_router_hybrid.service.app import create_router_app
    from lf_router_hybrid.service.state import RouterState

__all__ = ["RouterState", "create_router_app"]


def __getattr__(name: str) -> Any:
    if name == "create_router_app":
        from lf_router_hybrid.service.app import create_router_app

        return create_router_app
    if name == "RouterState":
        from lf_router_hybrid.service.state import RouterState

        return RouterState
    raise AttributeError(name)
