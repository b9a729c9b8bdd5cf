"""``create_app(backend, config)``: the model server's Litestar app, built on :mod:`lf.serve.service`.

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions``, ``GET /v1/models``
and, behind an admin key, ``/admin/models/{load,unload}`` and
``/admin/adapters/{load,unload}``; the service layer adds ``/health``, ``/ready``,
``/metrics`` and ``/openapi.json``. The work lives in :mod:`lf.serve.model_service`
(what lasts) and :mod:`lf.serve.completions` (one request).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Litestar, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from lf.serve.completions import CompletionPipeline
from lf.serve.config import ServeConfig
from lf.serve.guards import authenticate_admin, log_admin_action, service_of
from lf.serve.model_service import ModelService
from lf.serve.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    LoadRequest,
    ModelCard,
    ModelList,
    UnloadRequest,
)
from lf.serve.service import OpenAIRoutes, create_service_app
from lf.serve.wire import json_response, request_id


def _service(request: Request[Any, Any, Any]) -> ModelService:
    return service_of(request, ModelService)


class OpenAIController(OpenAIRoutes):
    """The OpenAI-compatible endpoints."""

    @post("/completions", status_code=200)
    async def completions(self, request: Request[Any, Any, Any], data: JSONBody[CompletionRequest]) -> Response[Any]:
        """Text completion (``stream: true`` for Server-Sent Events)."""
        pipeline = CompletionPipeline(_service(request))
        return await pipeline.complete(request, data, request_id=request_id(request.scope))

    @post("/chat/completions", status_code=200)
    async def chat_completions(
        self, request: Request[Any, Any, Any], data: JSONBody[ChatCompletionRequest]
    ) -> Response[Any]:
        """Chat completion (``stream: true`` for Server-Sent Events)."""
        pipeline = CompletionPipeline(_service(request))
        return await pipeline.complete(request, data, request_id=request_id(request.scope))

    @get("/models")
    async def models(self, request: Request[Any, Any, Any]) -> ModelList:
        """The base model and every loaded LoRA adapter."""
        return _service(request).model_list()

    @get("/models/{model_id:path}")
    async def model(self, request: Request[Any, Any, Any], model_id: FromPath[str]) -> ModelCard:
        """One model card, or 404 MODEL_NOT_FOUND."""
        return _service(request).model_card(model_id.lstrip("/"))


class AdminController(Controller):
    """Hot swap: load or unload a base model or a LoRA adapter without a restart (admin keys only)."""

    path = "/admin"
    guards = [authenticate_admin]  # noqa: RUF012

    @post("/models/load", status_code=200)
    async def load_model(self, request: Request[Any, Any, Any], data: JSONBody[LoadRequest]) -> Response[bytes]:
        """Replace the base model with the one at ``path`` (under ``model_root``), served as ``name``."""
        service = _service(request)
        path = service.confine(data.path)
        log_admin_action(request, "load_model", name=data.name)
        return json_response(await service.admin("load_model", path, data.name))

    @post("/models/unload", status_code=200)
    async def unload_model(self, request: Request[Any, Any, Any], data: JSONBody[UnloadRequest]) -> Response[bytes]:
        """Unload the base model (requests then get 404 MODEL_NOT_FOUND until one is loaded)."""
        log_admin_action(request, "unload_model", name=data.name)
        return json_response(await _service(request).admin("unload_model", data.name))

    @post("/adapters/load", status_code=200)
    async def load_adapter(self, request: Request[Any, Any, Any], data: JSONBody[LoadRequest]) -> Response[bytes]:
        """Load the LoRA adapter at ``path`` (under ``model_root``) as ``name``."""
        service = _service(request)
        path = service.confine(data.path)
        name = data.name or data.path.rstrip("/").rsplit("/", 1)[-1]
        log_admin_action(request, "load_adapter", name=name)
        return json_response(await service.admin("load_adapter", name, path))

    @post("/adapters/unload", status_code=200)
    async def unload_adapter(self, request: Request[Any, Any, Any], data: JSONBody[UnloadRequest]) -> Response[bytes]:
        """Unload the LoRA adapter ``name``."""
        log_admin_action(request, "unload_adapter", name=data.name)
        return json_response(await _service(request).admin("unload_adapter", data.name))


def create_app(
    backend: Any,
    config: ServeConfig,
    *,
    backend_name: str | None = None,
    load: bool = True,
) -> Litestar:
    """The OpenAI-compatible app around ``backend``.

    Args:
        backend: an object following :class:`lf.kinds.Backend`.
        config: the server's options (a :class:`ServeConfig`, or a backend's subclass of it).
        backend_name: shown by ``/health`` and ``/v1/models`` (default: the class name).
        load: call ``backend.load(config)`` at start-up (in the background); pass False for a
            backend that is already loaded.
    """
    service = ModelService(backend, config, backend_name=backend_name or type(backend).__name__, load=load)
    return create_service_app(service, [OpenAIController, AdminController])
