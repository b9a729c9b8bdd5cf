"""One serving layer: the state every ``lf`` HTTP service holds and the app factory that wires it.

A service - the model server (:class:`lf.serve.model_service.ModelService`), the router,
or a plugin's own - subclasses :class:`Service` and answers ``health()``, ``ready()``
and ``render_metrics()``; :func:`create_service_app` builds its Litestar app with
everything the services share: API keys and roles, rate limits, request ids, the access
log, OpenAI-shaped errors, body-size limits, CORS, liveness (``/health``), readiness
(``/ready``), Prometheus metrics (``/metrics``) and the OpenAPI document
(``/openapi.json``), generated from the request Structs. The service adds its own
controllers; :func:`lf.serve.runner.serve_app` runs the app with uvicorn.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from litestar import Controller, Litestar, Request, Response, get
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPlugin

from lf.serve.access_log import before_send, timing_middleware
from lf.serve.auth import KeyChecker, configured_admin_keys, configured_keys
from lf.serve.error_handlers import EXCEPTION_HANDLERS
from lf.serve.guards import authenticate, authenticate_metrics, service_of
from lf.serve.limits import Admission, rate_limiter
from lf.serve.metrics import CONTENT_TYPE
from lf.serve.options import ServerOptions
from lf.serve.schemas import ReadyResponse
from lf.serve.wire import encode, json_response


class Service(ABC):
    """What every ``lf`` HTTP service holds: options, keys and roles, rate limits, admission, clock.

    Subclasses implement :meth:`health`, :meth:`ready` and :meth:`render_metrics`, and may
    override :meth:`start` / :meth:`stop` (run by the app's lifespan) and :meth:`live`.

    Args:
        options: the service's :class:`ServerOptions` (or a subclass).
        what: how errors name the service ("server", "router").
    """

    #: The OpenAPI document's title.
    title = "LargeForge"
    #: Paths whose requests refused before any work (400, 401, 429...) are counted by :meth:`count_refused`.
    counted_paths: frozenset[str] = frozenset()

    def __init__(self, options: ServerOptions, *, what: str = "server") -> None:
        self.options = options
        limits = options.limits
        self.keys = KeyChecker(
            configured_keys(options.api_keys),
            configured_admin_keys(options.admin_keys),
            user_keys_are_admin=options.user_keys_are_admin,
        )
        self.admission = Admission(
            limits.max_concurrent_requests, limits.max_queued_requests, retry_after_s=limits.retry_after_s, what=what
        )
        self.rate = rate_limiter(limits, scope=what)
        self.started = time.monotonic()

    # -- lifecycle (the app's lifespan) -------------------------------------------------------------

    async def start(self) -> None:  # noqa: B027 - optional: a service overrides what it needs
        """Called when the app starts (load models, open clients, start background tasks)."""

    async def stop(self) -> None:  # noqa: B027 - optional
        """Called when the app stops (close what :meth:`start` opened)."""

    # -- what the ops routes answer --------------------------------------------------------------------

    def uptime(self) -> float:
        """Seconds since the service was created."""
        return round(time.monotonic() - self.started, 3)

    def live(self) -> bool:
        """Liveness: the process works (False makes ``/health`` answer 503: restart me)."""
        return True

    @abstractmethod
    def health(self) -> msgspec.Struct:
        """``GET /health``: status, reasons, uptime (always 200 while :meth:`live`)."""

    @abstractmethod
    def ready(self) -> ReadyResponse:
        """``GET /ready``: whether requests can be answered now (503 otherwise)."""

    @abstractmethod
    def render_metrics(self) -> bytes:
        """``GET /metrics``: the Prometheus text exposition."""

    def limit_problems(self) -> list[str]:
        """Why the rate limits do not hold as configured now (their store is away): reasons for ``/health``."""
        problem = self.rate.problem if self.rate is not None else None
        return [problem] if problem else []

    def count_refused(self, path: str, model: str, status: Any) -> None:  # noqa: B027 - optional
        """Count a request of :attr:`counted_paths` that was answered before reaching the work."""

    def deadline(self, scope_state: dict[str, Any]) -> float:
        """The ``time.perf_counter()`` by which the request must be answered (arrival + request_timeout_s)."""
        return float(scope_state.get("lf_t0") or time.perf_counter()) + self.options.limits.request_timeout_s


class OpenAIRoutes(Controller):
    """Base of a service's OpenAI-compatible endpoints: under ``/v1``, behind an API key."""

    path = "/v1"
    guards = [authenticate]  # noqa: RUF012 - Litestar reads this class attribute


class OpsController(Controller):
    """Liveness, readiness, metrics and the API description (no key needed: probes and scrapers call them)."""

    path = "/"

    @get("/health")
    async def health(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Liveness and a status (healthy / degraded / unhealthy) with its reasons; 503 only when not live."""
        service = service_of(request)
        return json_response(service.health(), status=200 if service.live() else 503)

    @get("/ready")
    async def ready(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Readiness: 200 when requests can be answered now, else 503 with the reason."""
        report = service_of(request).ready()
        return json_response(report, status=200 if report.ready else 503)

    @get("/metrics", guards=[authenticate_metrics])
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus text exposition."""
        return Response(content=service_of(request).render_metrics(), media_type=CONTENT_TYPE)

    @get("/openapi.json", include_in_schema=False)
    async def openapi(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """The OpenAPI 3.1 document of this service, generated from its request and response Structs."""
        state = request.app.state
        if "lf_openapi" not in state:
            state["lf_openapi"] = encode(request.app.openapi_schema.to_schema())
        return Response(content=state["lf_openapi"], media_type="application/json")


class ServicePlugin(InitPlugin):
    """Wires a :class:`Service` into a Litestar app: its routes, the shared ones, errors, limits, lifespan."""

    def __init__(self, service: Service, route_handlers: Sequence[Any], expose_headers: Sequence[str] = ()) -> None:
        self.service = service
        self.route_handlers = list(route_handlers)
        self.expose_headers = tuple(expose_headers)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add everything to the app being built."""
        options = self.service.options
        app_config.route_handlers += [OpsController, *self.route_handlers]
        app_config.lifespan.append(self.lifespan)
        app_config.exception_handlers.update(EXCEPTION_HANDLERS)  # type: ignore[arg-type]
        app_config.middleware.insert(0, timing_middleware)
        app_config.before_send.append(before_send)
        app_config.request_max_body_size = options.limits.max_body_bytes
        app_config.state = State({**dict(app_config.state), "lf_service": self.service})
        if options.cors_origins:
            app_config.cors_config = CORSConfig(
                allow_origins=list(options.cors_origins),
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", *self.expose_headers],
            )
        return app_config

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Start the service with the app; stop it at exit."""
        await self.service.start()
        try:
            yield
        finally:
            await self.service.stop()
            if self.service.rate is not None:
                await self.service.rate.close()


def create_service_app(
    service: Service, route_handlers: Sequence[Any], *, expose_headers: Sequence[str] = ()
) -> Litestar:
    """The Litestar app of ``service``: its ``route_handlers`` plus everything ``lf`` services share.

    Example (a plugin's own service)::

        class EchoService(Service):
            def health(self): ...
            def ready(self): return ReadyResponse(ready=True)
            def render_metrics(self): return b""

        app = create_service_app(EchoService(ServerOptions()), [MyController])
    """
    from lf import __version__

    return Litestar(
        plugins=[ServicePlugin(service, route_handlers, expose_headers)],
        openapi_config=OpenAPIConfig(title=service.title, version=__version__, path="/docs"),
        logging_config=None,
        debug=False,
        # Litestar 2.25 reads this argument, not the AppConfig value the plugin sets.
        request_max_body_size=service.options.limits.max_body_bytes,
    )
