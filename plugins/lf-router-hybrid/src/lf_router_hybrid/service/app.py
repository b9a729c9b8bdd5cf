"""``create_router_app``: the router's Litestar app, built on the core's service layer.

Routes: the OpenAI API (``model: "auto"`` routes), ``/route``, ``/generate``,
``/experts`` (changes need an admin key); ``lf.serve.service`` adds ``/health``,
``/ready``, ``/metrics`` and ``/openapi.json``, keys and roles, limits, request ids,
errors and the access log - the same code as the model server's.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Litestar, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from lf.errors import ModelNotFoundError
from lf.experts import ExpertConfig, ExpertManager
from lf.serve.guards import authenticate, authenticate_admin, log_admin_action, service_of
from lf.serve.schemas import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from lf.serve.service import OpenAIRoutes, create_service_app
from lf.serve.wire import decode_body, json_response, request_id
from lf_router_hybrid.service import router_api
from lf_router_hybrid.service.decide import unknown_model
from lf_router_hybrid.service.options import RouterOptions
from lf_router_hybrid.service.proxy import Proxy
from lf_router_hybrid.service.router import RouterService
from lf_router_hybrid.service.schemas import (
    ExpertList,
    ExpertView,
    GenerateRequest,
    RouteRequest,
    RouteResponse,
)

EXPOSED_HEADERS = ("X-LF-Expert", "X-LF-Routing", "X-LF-Fallback-From", "X-LF-Routing-Ms")


def _router(connection: Any) -> RouterService:
    return service_of(connection, RouterService)


class OpenAIController(OpenAIRoutes):
    """The OpenAI-compatible endpoints, routed: ``model: "auto"`` lets the router choose the expert."""

    @post("/chat/completions", status_code=200)
    async def chat_completions(
        self, request: Request[Any, Any, Any], data: JSONBody[ChatCompletionRequest]
    ) -> Response[Any]:
        """Chat completion routed to an expert (``model: "auto"``) or sent to the named one."""
        return await Proxy(_router(request)).openai(request, data, request_id=request_id(request.scope))

    @post("/completions", status_code=200)
    async def completions(self, request: Request[Any, Any, Any], data: JSONBody[CompletionRequest]) -> Response[Any]:
        """Text completion routed to an expert (``model: "auto"``) or sent to the named one."""
        return await Proxy(_router(request)).openai(request, data, request_id=request_id(request.scope))

    @get("/models")
    async def models(self, request: Request[Any, Any, Any]) -> ModelList:
        """``auto`` and every enabled expert."""
        return router_api.model_list(_router(request))

    @get("/models/{model_id:path}")
    async def model(self, request: Request[Any, Any, Any], model_id: FromPath[str]) -> ModelCard:
        """One model card, or 404 MODEL_NOT_FOUND."""
        router = _router(request)
        wanted = model_id.lstrip("/")
        for card in router_api.model_list(router).data:
            if card.id == wanted:
                return card
        raise unknown_model(router, wanted)


class RouterController(Controller):
    """The router's own API: decisions, generation, the expert registry (changes need an admin key)."""

    path = "/"

    @post("/route", status_code=200, guards=[authenticate])
    async def route(
        self, request: Request[Any, Any, Any], text: Annotated[str | None, QueryParameter(name="query")] = None
    ) -> RouteResponse:
        """The routing decision for a query (``?query=`` or a JSON body), with alternatives; nothing is forwarded."""
        raw = await request.body()
        body = decode_body(raw, RouteRequest) if raw.strip() else RouteRequest()
        if text is not None and body.query is None:
            body = RouteRequest(query=text, messages=body.messages, prompt=body.prompt, exclude=body.exclude)
        return await router_api.route(_router(request), body)

    @post("/generate", status_code=200, guards=[authenticate])
    async def generate(self, request: Request[Any, Any, Any], data: JSONBody[GenerateRequest]) -> Response[Any]:
        """Generate text with automatic routing (``expert`` names one instead)."""
        proxy = Proxy(_router(request))
        return await router_api.generate(proxy, request, data, request_id(request.scope))

    @get("/experts", guards=[authenticate])
    async def experts(self, request: Request[Any, Any, Any]) -> ExpertList:
        """Every expert with its replicas, their state and the router's statistics."""
        return router_api.expert_list(_router(request))

    @get("/experts/{name:str}", guards=[authenticate])
    async def expert(self, request: Request[Any, Any, Any], name: FromPath[str]) -> ExpertView:
        """One expert."""
        router = _router(request)
        expert = router.manager.get_expert(name)
        if expert is None:
            raise ModelNotFoundError(f"No expert named '{name}'.", hint="GET /experts lists them.")
        return router_api.expert_view(router, expert)

    @post("/experts", status_code=201, guards=[authenticate_admin])
    async def add(self, request: Request[Any, Any, Any], replace: FromQuery[bool] = False) -> Response[bytes]:
        """Register an expert (``?replace=true`` to update one); every router sharing the registry sees it."""
        router = _router(request)
        data = decode_body(await request.body(), dict[str, Any])
        expert = _expert_from(data)
        log_admin_action(request, "add_expert", expert=expert.name, replace=replace)
        stored = await router.add_expert(expert, replace)
        return json_response(router_api.expert_view(router, stored), status=201)

    @delete("/experts/{name:str}", status_code=200, guards=[authenticate_admin])
    async def remove(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        """Remove an expert (its definition stays in the registry's history)."""
        log_admin_action(request, "remove_expert", expert=name)
        removed = await _router(request).remove_expert(name)
        return json_response({"removed": removed.name, "version": removed.version})


def _expert_from(data: dict[str, Any]) -> ExpertConfig:
    from lf.errors import ConfigError, InvalidRequestError

    try:
        return ExpertConfig.from_dict(data, source="the request body")
    except ConfigError as exc:
        raise InvalidRequestError(exc.message, hint=exc.hint) from None


def create_router_app(
    classifier: Any,
    manager: ExpertManager,
    options: RouterOptions | None = None,
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
    router = RouterService(classifier, manager, options or RouterOptions(), classifier_name=classifier_name)
    return create_service_app(router, [OpenAIController, RouterController], expose_headers=EXPOSED_HEADERS)
