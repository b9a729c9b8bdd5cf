"""The model server as a :class:`~lf.serve.service.Service`: a backend, its models, hot swap, health.

The life of one completion request is :class:`lf.serve.completions.CompletionPipeline`;
this module holds what lasts: the backend and its loading, the served models, the admin
actions (confined to ``model_root``), liveness, readiness, health and metrics.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any, Literal

import anyio
import msgspec

from lf.errors import ForbiddenError, InvalidRequestError, LFError, ModelNotFoundError, ModelOverloadedError
from lf.logs import get_logger
from lf.serve.backend import backend_status
from lf.serve.config import ServeConfig
from lf.serve.metrics import ServerMetrics
from lf.serve.schemas import HealthResponse, ModelCard, ModelList, ReadyResponse
from lf.serve.service import Service

log = get_logger("lf.serve")
GENERATION_PATHS = frozenset({"/v1/completions", "/v1/chat/completions"})


class ModelService(Service):
    """One backend behind the OpenAI API: loading, models, admin actions, health."""

    title = "LargeForge inference server"
    counted_paths = GENERATION_PATHS

    def __init__(self, backend: Any, config: ServeConfig, *, backend_name: str, load: bool = True) -> None:
        super().__init__(config, what="server")
        self.backend = backend
        self.config = config
        self.backend_name = backend_name
        self.metrics = ServerMetrics(gpu_memory=lambda: backend_status(self.backend).gpu_memory_used_bytes)
        self.loading = load
        self.load_error: str | None = None
        self._load_task: asyncio.Task[None] | None = None
        self.models: list[ModelCard] = [] if load else self._list_models()
        self.last_progress = time.monotonic()
        self.busy_since: float | None = None
        self._admin_lock: asyncio.Lock | None = None
        #: Called (no arguments) when the start-up load finished, or failed.
        self.on_loaded: Any = None
        self.on_load_failed: Any = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin loading the model in the background (``/ready`` answers 503 meanwhile)."""
        if self.loading:
            self._load_task = asyncio.create_task(self._load())

    async def _load(self) -> None:
        t0 = time.monotonic()
        try:
            result = self.backend.load(self.config) if inspect.iscoroutinefunction(self.backend.load) else None
            if result is not None:
                await result
            else:
                await anyio.to_thread.run_sync(self.backend.load, self.config)
            self.models = self._list_models()
            log.info("model loaded", extra={"context": {"seconds": round(time.monotonic() - t0, 2)}})
        except Exception as exc:
            self.load_error = str(exc) if isinstance(exc, LFError) else f"{type(exc).__name__}: {exc}"
            log.error("model failed to load", extra={"context": {"error": self.load_error}})
        finally:
            self.loading = False
        callback = self.on_load_failed if self.load_error else self.on_loaded
        if callback is not None:
            callback()

    async def wait_loaded(self) -> None:
        """Block until the start-up load finished (or failed)."""
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    async def stop(self) -> None:
        """Close the backend (graceful shutdown)."""
        if self._load_task is not None and not self._load_task.done():
            with anyio.move_on_after(1):
                await asyncio.shield(self._load_task)
        close = getattr(self.backend, "close", None)
        if callable(close):
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.warning("backend close failed", extra={"context": {"error": f"{type(exc).__name__}: {exc}"}})

    # -- models ---------------------------------------------------------------------------------------

    def _list_models(self) -> list[ModelCard]:
        cards = list(self.backend.models())
        for card in cards:
            card.backend = card.backend or self.backend_name
        return cards

    def model_list(self) -> ModelList:
        """``GET /v1/models``."""
        return ModelList(data=self.models)

    def model_card(self, model_id: str) -> ModelCard:
        """One model, or MODEL_NOT_FOUND."""
        for card in self.models:
            if card.id == model_id:
                return card
        raise self.unknown_model(model_id)

    def unknown_model(self, model_id: str) -> ModelNotFoundError:
        """MODEL_NOT_FOUND naming the models that are served."""
        known = ", ".join(c.id for c in self.models) or "none (no model is loaded)"
        return ModelNotFoundError(
            f"The model '{model_id}' does not exist on this server. Served models: {known}.",
            hint="GET /v1/models lists them.",
            details={"param": "model"},
        )

    # -- admin ------------------------------------------------------------------------------------------

    def model_root(self) -> Path | None:
        """Where admin loads may come from: ``model_root``, else the directory holding ``model``."""
        if self.config.model_root:
            return Path(self.config.model_root).expanduser().resolve()
        model = Path(self.config.model).expanduser()
        return model.resolve().parent if model.is_dir() else None

    def confine(self, path: str) -> str:
        """``path`` resolved under :meth:`model_root`; 403 outside it (checked before the disk is read)."""
        root = self.model_root()
        if root is None:
            raise ForbiddenError(
                "Loading models through the admin API is off: no model_root is configured.",
                hint="Start the server with --set model_root=DIR to allow loads from DIR.",
            )
        target = Path(path).expanduser()
        resolved = (target if target.is_absolute() else root / target).resolve()
        if not resolved.is_relative_to(root):
            raise ForbiddenError(
                "That path is outside model_root.", hint="Admin loads must lie under the directory model_root names."
            )
        return str(resolved)

    async def admin(self, action: str, *args: Any) -> dict[str, Any]:
        """Run a hot-swap action of the backend, one at a time; returns the new model list.

        A load that fails for any reason is a 400 whose text says nothing about the path
        (whether it exists, what it holds); the operator's log has the error type.
        """
        method = getattr(self.backend, action, None)
        if not callable(method):
            raise InvalidRequestError(f"The {self.backend_name} backend does not support {action.replace('_', ' ')}.")
        if self._admin_lock is None:
            self._admin_lock = asyncio.Lock()
        async with self._admin_lock:
            try:
                result = method(*args)
                if inspect.isawaitable(result):
                    await result
            except (ModelOverloadedError, ModelNotFoundError):
                raise
            except Exception as exc:
                if not action.startswith("load"):
                    raise
                log.warning("admin load failed", extra={"context": {"action": action, "error": type(exc).__name__}})
                raise InvalidRequestError(
                    "Could not load a model from that path.",
                    hint="Give a directory under model_root that holds a model (or adapter) this backend reads.",
                ) from None
            finally:
                self.models = self._list_models()
        return {"ok": True, "action": action, "models": msgspec.to_builtins(self.models)}

    # -- health ----------------------------------------------------------------------------------------

    def stalled(self) -> bool:
        """Work is pending but the engine produced nothing for ``limits.stall_timeout_s``."""
        status = backend_status(self.backend)
        busy = self.admission.active > 0 or status.pending > 0
        if not busy or self.busy_since is None:
            return False
        progress = max(self.last_progress, status.last_progress or 0.0, self.busy_since)
        return time.monotonic() - progress > self.config.limits.stall_timeout_s

    def live(self) -> bool:
        """The process works: the start-up load did not fail and the engine has not died for good."""
        return self.load_error is None and backend_status(self.backend).error is None

    def ready(self) -> ReadyResponse:
        """``GET /ready``: 503 while loading, without a model, with a dead or stalled engine."""
        reason = self._not_serving_reason()
        if reason is None and self.stalled():
            reason = "the engine has made no progress for too long"
        return ReadyResponse(ready=reason is None, reason=reason)

    def _not_serving_reason(self) -> str | None:
        if self.loading:
            return "the model is loading"
        if self.load_error:
            return f"the model failed to load: {self.load_error}"
        status = backend_status(self.backend)
        if status.error:
            return f"the engine failed: {status.error}"
        if not status.loaded or not self.models:
            return "no model is loaded"
        return None

    def health(self) -> HealthResponse:
        """``GET /health``: unhealthy without a model, degraded when slow, stalled or shedding."""
        reason = self._not_serving_reason()
        reasons = [reason] if reason else []
        if not reasons:
            ttft = self.metrics.recent_ttft_median()
            if ttft is not None and ttft > self.config.limits.slow_ttft_s:
                reasons.append(f"slow responses: median time to first token {ttft:.1f}s")
            if self.admission.recently_shed():
                reasons.append("requests were refused for capacity in the last minute")
            if self.stalled():
                reasons.append("the engine has made no progress for too long")
            reasons += self.limit_problems()
        verdict: Literal["healthy", "degraded", "unhealthy"] = (
            "unhealthy" if reason else "degraded" if reasons else "healthy"
        )
        return HealthResponse(
            status=verdict,
            model=self.models[0].id if self.models else None,
            backend=self.backend_name,
            uptime=self.uptime(),
            active_requests=self.admission.active,
            queued_requests=self.admission.queued,
            reasons=reasons,
        )

    def render_metrics(self) -> bytes:
        """``GET /metrics``."""
        return self.metrics.render(self.admission.queued)

    def count_refused(self, path: str, model: str, status: Any) -> None:
        """A generation request answered before reaching the backend (400, 401, 404, 429, 503...)."""
        if path in self.counted_paths:
            self.metrics.requests.labels(model, str(status)).inc()

    # -- the busy clock of the stall detector ----------------------------------------------------------------

    def work_started(self) -> None:
        """A request entered the backend."""
        if self.admission.active == 1 or self.busy_since is None:
            self.busy_since = time.monotonic()

    def work_ended(self) -> None:
        """A request left the backend (its admission slot is released by the caller)."""
        self.last_progress = time.monotonic()
        if self.admission.active <= 1:
            self.busy_since = None
