"""``create_router_app(classifier, manager, options)``: the router as a Litestar app.

Routes:

* ``POST /v1/chat/completions``, ``POST /v1/completions`` - OpenAI-compatible; ``model:
  "auto"`` routes, an expert's name goes to that expert; streams pass through chunk by chunk.
* ``GET /v1/models`` (``auto`` and every expert), ``GET /v1/models/{id}``.
* ``POST /route`` - the decision only (``?query=...`` or ``{"query"|"messages"|"prompt"}``),
  with alternatives and the routing time.
* ``POST /generate`` - the requirements' router API: ``{prompt | messages, max_tokens,
  temperature, expert}`` -> ``{text, expert, tokens_used, ...}``.
* ``GET /experts``, ``GET /experts/{name}``; ``POST /experts`` and ``DELETE /experts/{name}``
  (admin keys) change the shared registry file.
* ``GET /health``, ``GET /ready``, ``GET /metrics``.

Auth, rate limits, body-size limit, request ids, the access log and the error shape are
``lf.serve``'s (:func:`lf.serve.app.install_common`, :func:`lf.serve.app.authenticate`).
Every forwarded response carries ``X-LF-Expert`` and ``X-LF-Routing``
(``classified``/``named``/``fallback``); a fallback adds ``X-LF-Fallback-From`` and a
``router`` field to the JSON body (to the first event of a stream).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Litestar, Request, Response, delete, get, post
from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from lf.errors import ModelNotFoundError
from lf.experts import ExpertManager
from lf.serve.app import authenticate, authenticate_admin, install_common, json_response, request_id
from lf.serve.metrics import CONTENT_TYPE
from lf.serve.openai_errors import decode_error
from lf_router_hybrid.config import ServiceOptions
from lf_router_hybrid.service.schemas import RouteRequest
from lf_router_hybrid.service.state import RouterState

EXPOSED_HEADERS = ("X-LF-Expert", "X-LF-Routing", "X-LF-Fallback-From", "X-LF-Routing-Ms")


def _router(connection: Any) -> RouterState:
    return connection.app.state["lf_server"]


class OpenAIController(Controller):
    """The OpenAI-compatible endpoints."""

    path = "/v1"
    guards = [authenticate]  # noqa: RUF012 - Litestar reads this class attribute

    @post("/chat/completions", status_code=200)
    async def chat_completions(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Chat completion routed to an expert (``model: "auto"``) or sent to the named one."""
        return await _router(request).openai(request, chat=True, request_id=request_id(request.scope))

    @post("/completions", status_code=200)
    async def completions(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Text completion routed to an expert (``model: "auto"``) or sent to the named one."""
        return await _router(request).openai(request, chat=False, request_id=request_id(request.scope))

    @get("/models")
    async def models(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """``auto`` and every enabled expert."""
        return json_response(_router(request).model_list())

    @get("/models/{model_id:path}")
    async def model(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """One model card, or 404 MODEL_NOT_FOUND."""
        router = _router(request)
        wanted = str(request.path_params["model_id"]).lstrip("/")
        for card in router.model_list().data:
            if card.id == wanted:
                return json_response(card)
        raise router._unknown_model(wanted)


class RouterController(Controller):
    """The router's own API: decisions, generation, the expert registry (changes need an admin key)."""

    path = "/"

    @post("/route", status_code=200, guards=[authenticate])
    async def route(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """The routing decision for a query, with alternatives and routing time; nothing is forwarded."""
        router = _router(request)
        raw = await request.body()
        query = request.query_params.get("query")
        if raw.strip():
            try:
                body = msgspec.json.decode(raw, type=RouteRequest)
            except msgspec.MsgspecError as exc:
                raise decode_error(exc) from None
            if query is not None and body.query is None:
                body = msgspec.structs.replace(body, query=query)
        else:
            body = RouteRequest(query=query)
        return json_response(await router.route(body))

    @post("/generate", status_code=200, guards=[authenticate])
    async def generate(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Generate text with automatic routing (``expert`` names one instead)."""
        return await _router(request).generate(request, request_id(request.scope))

    @get("/experts", guards=[authenticate])
    async def experts(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Every expert with its replicas, their state and the router's statistics."""
        return json_response(_router(request).experts())

    @get("/experts/{name:str}", guards=[authenticate])
    async def expert(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """One expert."""
        router = _router(request)
        name = str(request.path_params["name"])
        expert = router.manager.get_expert(name)
        if expert is None:
            raise ModelNotFoundError(f"No expert named '{name}'.", hint="GET /experts lists them.")
        return json_response(router.expert_view(expert))

    @post("/experts", status_code=201, guards=[authenticate_admin])
    async def add(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Register an expert (``?replace=true`` to update one); every router sharing the file sees it."""
        router = _router(request)
        replace = request.query_params.get("replace", "false").lower() in ("1", "true", "yes")
        try:
            data = msgspec.json.decode(await request.body())
        except msgspec.MsgspecError as exc:
            raise decode_error(exc) from None
        stored = await router.add_expert(data, replace)
        return json_response(router.expert_view(stored), status=201)

    @delete("/experts/{name:str}", status_code=200, guards=[authenticate_admin])
    async def remove(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Remove an expert (its definition stays in the registry's history)."""
        router = _router(request)
        removed = await router.remove_expert(str(request.path_params["name"]))
        return json_response({"removed": removed.name, "version": removed.version})


class OpsController(Controller):
    """Liveness, readiness and metrics (no key needed: probes and scrapers call them)."""

    path = "/"

    @get("/health")
    async def health(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Healthy / degraded (some experts unreachable: the fallback answers) / unhealthy; always 200."""
        return json_response(_router(request).health())

    @get("/ready")
    async def ready(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """200 when some expert can answer; 503 when none is registered or none has a healthy replica."""
        ready, reason = _router(request).ready()
        return json_response({"ready": ready, "reason": reason}, status=200 if ready else 503)

    @get("/metrics")
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus text exposition."""
        return Response(content=_router(request).render_metrics(), media_type=CONTENT_TYPE)


class RouterPlugin(InitPlugin):
    """Wires the router into a Litestar app."""

    def __init__(self, router: RouterState) -> None:
        self.router = router

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Routes, lifespan and everything ``lf.serve`` shares."""
        options = self.router.options
        app_config.route_handlers += [OpenAIController, RouterController, OpsController]
        app_config.lifespan.append(self.lifespan)
        return install_common(
            app_config,
            self.router,
            max_body_bytes=options.limits.max_body_bytes,
            cors_origins=options.cors_origins,
            expose_headers=EXPOSED_HEADERS,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Start the upstream client and the background checks; stop them at exit."""
        await self.router.start()
        try:
            yield
        finally:
            await self.router.stop()


def create_router_app(
    classifier: Any,
    manager: ExpertManager,
    options: ServiceOptions | None = None,
    *,
    classifier_name: str | None = None,
) -> Litestar:
    """The router app: ``classifier`` chooses among ``manager``'s experts, requests go to their replicas.

    Example::

        from lf.experts import ExpertManager
        from lf_router_hybrid import KeywordClassifier
        from lf_router_hybrid.service import create_router_app

        manager = ExpertManager("experts.yaml")
        app = create_router_app(KeywordClassifier.from_experts(manager), manager)
        # uvicorn.run(app, port=8080)
    """
    options = options or ServiceOptions()
    router = RouterState(classifier, manager, options, classifier_name=classifier_name)
    return Litestar(
        plugins=[RouterPlugin(router)],
        openapi_config=None,
        logging_config=None,
        debug=False,
        request_max_body_size=options.limits.max_body_bytes,
    )
