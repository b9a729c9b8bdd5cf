"""``create_app(backend, config)``: the Litestar app, wired through one :class:`LFServePlugin`.

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions``, ``GET /v1/models``,
``GET /health``, ``GET /ready``, ``GET /metrics`` and, behind an admin key,
``/admin/models/{load,unload}`` and ``/admin/adapters/{load,unload}``. The work itself
(admission, deadlines, streaming, metrics) lives in :mod:`lf.serve.state`.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from litestar import Controller, Litestar, Request, Response, get, post
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.plugins import InitPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lf.errors import AuthenticationError, ForbiddenError, LFError, RateLimitedError
from lf.logs import get_logger
from lf.serve.config import ServeConfig
from lf.serve.limits import retry_after_header
from lf.serve.metrics import CONTENT_TYPE
from lf.serve.openai_errors import STATUS_CODES, decode_error, error_body, lf_error_body, with_retry_after
from lf.serve.schemas import ChatCompletionRequest, CompletionRequest, LoadRequest, UnloadRequest
from lf.serve.state import ServerState

access_log = get_logger("lf.serve.access")
log = get_logger("lf.serve")
_JSON = "application/json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_encode = msgspec.json.Encoder().encode
_GENERATION_PATHS = frozenset({"/v1/completions", "/v1/chat/completions"})


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    """A JSON response encoded with msgspec."""
    return Response(content=_encode(data), status_code=status, media_type=_JSON, headers=headers)


def request_id(scope: Scope) -> str:
    """The request's id: the client's ``X-Request-ID`` when sane, else a new one (kept in scope)."""
    state = scope.setdefault("state", {})
    rid = state.get("lf_request_id")
    if rid is None:
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state["lf_request_id"] = rid
    return str(rid)


# --- auth guards ---------------------------------------------------------------------------------


ASGConnectionAlias = ASGIConnection[Any, Any, Any, Any]


def _server(connection: ASGConnectionAlias) -> ServerState:
    return connection.app.state["lf_server"]


async def authenticate(connection: ASGConnectionAlias, _: BaseRouteHandler) -> None:
    """Guard: a valid key when keys are configured; then the caller's rate limit.

    Async on purpose: Litestar runs a synchronous guard in a worker thread, a thread hop
    on every request.
    """
    server = _server(connection)
    keys = server.keys
    caller = None
    if keys.enabled:
        caller = keys.identify(keys.presented(connection.headers))
        if caller is None:
            raise AuthenticationError(
                "Missing or invalid API key.",
                hint="Send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
            )
    connection.scope["state"]["lf_caller"] = caller
    if server.rate is not None:
        who = caller or (connection.client.host if connection.client else "unknown")
        wait = server.rate.check(who)
        if wait is not None:
            raise with_retry_after(RateLimitedError("Rate limit exceeded for this API key."), wait)


async def authenticate_admin(connection: ASGConnectionAlias, handler: BaseRouteHandler) -> None:
    """Guard: like :func:`authenticate`, and the key must be allowed to administer."""
    await authenticate(connection, handler)
    server = _server(connection)
    if not server.keys.is_admin(connection.scope["state"].get("lf_caller")):
        raise ForbiddenError("This API key may not load or unload models.", hint="Use a key listed in admin_keys.")


def _decode(body: bytes, type_: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.MsgspecError as exc:
        raise decode_error(exc) from None


# --- controllers ----------------------------------------------------------------------------------


class OpenAIController(Controller):
    """The OpenAI-compatible endpoints."""

    path = "/v1"
    guards = [authenticate]  # noqa: RUF012 - Litestar reads this class attribute

    @post("/completions", status_code=200)
    async def completions(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Text completion (``stream: true`` for Server-Sent Events)."""
        server = _server(request)
        body = _decode(await request.body(), CompletionRequest)
        return await server.complete(request, body, chat=False, request_id=request_id(request.scope))

    @post("/chat/completions", status_code=200)
    async def chat_completions(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Chat completion (``stream: true`` for Server-Sent Events)."""
        server = _server(request)
        body = _decode(await request.body(), ChatCompletionRequest)
        return await server.complete(request, body, chat=True, request_id=request_id(request.scope))

    @get("/models")
    async def models(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """The base model and every loaded LoRA adapter."""
        server = _server(request)
        return json_response(server.model_list())

    @get("/models/{model_id:path}")
    async def model(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """One model card, or 404 MODEL_NOT_FOUND."""
        server = _server(request)
        return json_response(server.model_card(str(request.path_params["model_id"]).lstrip("/")))


class OpsController(Controller):
    """Liveness, readiness and metrics (no key needed: probes and scrapers call them)."""

    path = "/"

    @get("/health")
    async def health(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Healthy / degraded (loaded, but slow, stalled or shedding) / unhealthy (no model), with uptime."""
        server = _server(request)
        report = server.health()
        return json_response(report, status=503 if report.status == "unhealthy" else 200)

    @get("/ready")
    async def ready(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """200 when requests can be served; 503 while loading or when the engine stopped progressing."""
        server = _server(request)
        report = server.ready()
        return json_response(report, status=200 if report.ready else 503)

    @get("/metrics")
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus text exposition."""
        server = _server(request)
        return Response(content=server.render_metrics(), media_type=CONTENT_TYPE)


class AdminController(Controller):
    """Hot swap: load or unload a base model or a LoRA adapter without a restart."""

    path = "/admin"
    guards = [authenticate_admin]  # noqa: RUF012

    @post("/models/load", status_code=200)
    async def load_model(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Replace the base model with the one at ``path`` (served as ``name``)."""
        server = _server(request)
        body = _decode(await request.body(), LoadRequest)
        return json_response(await server.admin("load_model", body.path, body.name))

    @post("/models/unload", status_code=200)
    async def unload_model(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Unload the base model (requests then get 404 MODEL_NOT_FOUND until one is loaded)."""
        server = _server(request)
        body = _decode(await request.body(), UnloadRequest)
        return json_response(await server.admin("unload_model", body.name))

    @post("/adapters/load", status_code=200)
    async def load_adapter(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Load the LoRA adapter at ``path`` as ``name`` (a request selects it with ``model: name``)."""
        server = _server(request)
        body = _decode(await request.body(), LoadRequest)
        name = body.name or body.path.rstrip("/").rsplit("/", 1)[-1]
        return json_response(await server.admin("load_adapter", name, body.path))

    @post("/adapters/unload", status_code=200)
    async def unload_adapter(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Unload the LoRA adapter ``name``."""
        server = _server(request)
        body = _decode(await request.body(), UnloadRequest)
        return json_response(await server.admin("unload_adapter", body.name))


# --- errors -----------------------------------------------------------------------------------------


def _lf_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, LFError)
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = retry_after_header(retry)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return json_response(lf_error_body(exc), status=exc.http_status, headers=headers)


def _http_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = STATUS_CODES.get(status, "INVALID_REQUEST" if status < 500 else "INTERNAL_ERROR")
    message = str(exc.detail) if status != 413 else "The request body is larger than the server accepts."
    return json_response(error_body(code, message), status=status, headers=dict(exc.headers or {}))


def _internal_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    rid = request_id(request.scope)
    log.error(
        "unhandled error", extra={"context": {"request_id": rid, "error": type(exc).__name__, "path": request.url.path}}
    )
    body = error_body("INTERNAL_ERROR", f"Internal server error (request id {rid}).")
    return json_response(body, status=500)


# --- request ids, timing and the access log ------------------------------------------------------------


def timing_middleware(app: ASGIApp) -> ASGIApp:
    """Stamp the arrival time and request id before anything else runs."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["lf_t0"] = time.perf_counter()
        request_id(scope)
        await app(scope, receive, send)

    return middleware


async def before_send(message: Message, scope: Scope) -> None:
    """Add ``X-Request-ID`` to every response; write one access-log line when it ends."""
    if scope.get("type") != "http":
        return
    state = scope.setdefault("state", {})
    if message["type"] == "http.response.start":
        rid = request_id(scope)
        message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
        state["lf_status"] = message["status"]
    elif message["type"] == "http.response.body" and not message.get("more_body", False):
        t0 = state.get("lf_t0")
        if scope.get("path") in _GENERATION_PATHS and not state.get("lf_counted"):
            server = scope["app"].state.get("lf_server")
            if server is not None:  # refused before reaching the backend: 400, 401, 404, 429, 503...
                server.metrics.requests.labels(state.get("lf_model") or "-", str(state.get("lf_status"))).inc()
        client = scope.get("client")
        access_log.info(
            "request",
            extra={
                "context": {
                    "request_id": request_id(scope),
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": state.get("lf_stream_status", state.get("lf_status")),
                    "duration_ms": round((time.perf_counter() - t0) * 1000, 2) if t0 else None,
                    "model": state.get("lf_model"),
                    "caller": state.get("lf_caller"),
                    "client": client[0] if client else None,
                    "completion_tokens": state.get("lf_tokens"),
                }
            },
        )


# --- the plugin and the factory ----------------------------------------------------------------------------


def install_common(
    app_config: AppConfig,
    server: Any,
    *,
    max_body_bytes: int,
    cors_origins: Sequence[str] = (),
    expose_headers: Sequence[str] = (),
) -> AppConfig:
    """Wire what every ``lf`` HTTP service shares into ``app_config``.

    That is: errors in OpenAI's shape, request ids, timing, the access log, the body-size
    limit, CORS, and ``server`` as ``app.state["lf_server"]``.

    ``server`` is read by the :func:`authenticate` guards and the access log: it needs
    ``keys`` (a :class:`lf.serve.auth.KeyChecker`), ``rate`` (a
    :class:`lf.serve.limits.RateLimiter` or None) and ``metrics.requests`` (a Counter
    labelled by model and status, counting generation requests refused before they were
    served). The router (``lf-router-hybrid``) builds its app with it.
    """
    app_config.exception_handlers.update(
        {LFError: _lf_error_response, HTTPException: _http_error_response, Exception: _internal_error_response}
    )
    app_config.middleware.insert(0, timing_middleware)
    app_config.before_send.append(before_send)
    app_config.request_max_body_size = max_body_bytes
    app_config.state = State({**dict(app_config.state), "lf_server": server})
    if cors_origins:
        app_config.cors_config = CORSConfig(
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", *expose_headers],
        )
    return app_config


class LFServePlugin(InitPlugin):
    """Wires the whole server into a Litestar app: routes, guards, errors, limits, lifespan."""

    def __init__(self, server: ServerState) -> None:
        self.server = server

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add everything to the app being built."""
        server = self.server
        app_config.route_handlers += [OpenAIController, OpsController, AdminController]
        app_config.lifespan.append(self.lifespan)
        return install_common(
            app_config,
            server,
            max_body_bytes=server.config.limits.max_body_bytes,
            cors_origins=server.config.cors_origins,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Load the model in the background (``/ready`` says 503 meanwhile); close the backend at exit."""
        await self.server.start()
        try:
            yield
        finally:
            await self.server.stop()


def create_app(
    backend: Any,
    config: ServeConfig,
    *,
    backend_name: str | None = None,
    load: bool = True,
) -> Litestar:
    """The OpenAI-compatible app around ``backend``.

    Args:
        backend: an object following :class:`lf.serve.backend.Backend`.
        config: the server's options (a :class:`ServeConfig`, or a backend's subclass of it).
        backend_name: shown by ``/health`` and ``/v1/models`` (default: the class name).
        load: call ``backend.load(config)`` at start-up (in the background); pass False for a
            backend that is already loaded.
    """
    server = ServerState(backend, config, backend_name=backend_name or type(backend).__name__, load=load)
    return Litestar(
        plugins=[LFServePlugin(server)],
        openapi_config=None,
        logging_config=None,
        debug=False,
        # Litestar 2.25 reads this argument, not the AppConfig value the plugin sets.
        request_max_body_size=config.limits.max_body_bytes,
    )
