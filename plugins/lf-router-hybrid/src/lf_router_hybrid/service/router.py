"""The router as a :class:`lf.serve.service.Service`: registry, classifier, replicas, health.

:class:`RouterService` holds the registry (:class:`lf.experts.ExpertManager`), the
classifier (behind a :class:`~lf_router_hybrid.service.selector.Selector`), the replicas
(:class:`~lf_router_hybrid.service.pool.ReplicaPool`) and the forwarder (one pooled httpx
client); keys, roles, rate limits and admission come from the core's service layer. Two
background tasks keep it current: the registry watcher (``refresh_if_changed`` every
``registry_poll_s``, so routers sharing the registry see each other's changes; a Redis
registry also pushes each change, which resyncs at once) and the health checker
(:mod:`~lf_router_hybrid.service.health_checks`). The life of one request is
:mod:`~lf_router_hybrid.service.proxy`. Prompts and keys are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import anyio

from lf.errors import ConfigError, InvalidRequestError, ModelOverloadedError
from lf.experts import ExpertConfig, ExpertManager
from lf.logs import get_logger
from lf.serve.schemas import ReadyResponse
from lf.serve.service import Service
from lf_router_hybrid.service.egress import EndpointPolicy
from lf_router_hybrid.service.forward import Forwarder
from lf_router_hybrid.service.health_checks import check_replicas
from lf_router_hybrid.service.metrics import RouterMetrics
from lf_router_hybrid.service.options import RouterOptions
from lf_router_hybrid.service.pool import ReplicaPool
from lf_router_hybrid.service.schemas import RouterHealth
from lf_router_hybrid.service.selector import Selector

log = get_logger("lf.router")
ROUTED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/generate"})


class RouterService(Service):
    """Everything one router process holds."""

    title = "LargeForge expert router"
    counted_paths = ROUTED_PATHS

    def __init__(
        self, classifier: Any, manager: ExpertManager, options: RouterOptions, *, classifier_name: str | None = None
    ) -> None:
        super().__init__(options, what="router")
        self.options: RouterOptions = options
        self.classifier = classifier
        self.classifier_name = classifier_name or type(classifier).__name__
        self.manager = manager
        self.metrics = RouterMetrics()
        self.pool = ReplicaPool(options.breaker, options.balancing)
        self.pool.sync(manager.list_experts(enabled_only=True))
        self.selector = Selector(classifier)
        self.endpoints = EndpointPolicy(options, manager.list_experts())
        self.forwarder: Forwarder | None = None
        self.generation = manager.generation
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_lock: asyncio.Lock | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._resyncs: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the upstream client; start the registry watcher and the health checker."""
        self.forwarder = Forwarder(self.options, self.pool, self.metrics, self.manager, self.endpoints)
        self._sync_lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        self._unsubscribe = self.manager.subscribe(lambda _: self._from_thread(loop))
        self.manager.watch()  # a Redis registry pushes changes; a file is polled below
        self._tasks = [
            asyncio.create_task(self._every(self.options.registry_poll_s, self.refresh_registry)),
            asyncio.create_task(
                self._every(self.options.health_checks.interval_s, lambda: check_replicas(self), first=True)
            ),
        ]

    async def stop(self) -> None:
        """Stop the background tasks and close the upstream and registry connections."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        await anyio.to_thread.run_sync(self.manager.close)
        self._tasks += list(self._resyncs)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.forwarder is not None:
            await self.forwarder.close()

    @property
    def fwd(self) -> Forwarder:
        """The forwarder (exists between start and stop)."""
        if self.forwarder is None:
            raise ModelOverloadedError("The router is starting.")
        return self.forwarder

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Coroutine[Any, Any, Any]], *, first: bool = False) -> None:
        if not first:
            await asyncio.sleep(seconds)
        while True:
            try:
                await job()
            except Exception as exc:  # a background job never dies
                log.warning(
                    "router background job failed", extra={"context": {"error": f"{type(exc).__name__}: {exc}"}}
                )
            await asyncio.sleep(seconds)

    # --- the registry --------------------------------------------------------------------------

    def expert_names(self) -> list[str]:
        """Enabled experts, as the registry lists them."""
        return [e.name for e in self.manager.list_experts(enabled_only=True)]

    async def refresh_registry(self) -> bool:
        """Pick up another process's change to the registry file (one ``stat`` when none)."""
        changed = await anyio.to_thread.run_sync(self.manager.refresh_if_changed)
        if changed or self.manager.generation != self.generation:
            await self.resync()
            return True
        return False

    def _from_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(self._resync_soon)

    def _resync_soon(self) -> None:
        """On the event loop: a change another thread saw (a Redis notification) reaches replicas and classifier."""
        task = asyncio.ensure_future(self.resync())
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def resync(self) -> None:
        """Bring the replicas and the classifier in line with the registry."""
        assert self._sync_lock is not None
        async with self._sync_lock:
            generation = self.manager.generation
            experts = self.manager.list_experts(enabled_only=True)
            self.pool.sync(experts)
            await anyio.to_thread.run_sync(self.classifier.sync_experts, experts)
            self.generation = generation
            log.info("experts updated", extra={"context": {"experts": [e.name for e in experts]}})

    async def add_expert(self, expert: ExpertConfig, replace: bool) -> ExpertConfig:
        """``POST /experts``: register (or replace) an expert whose endpoints the egress policy allows."""
        try:
            expert = await anyio.to_thread.run_sync(self.endpoints.admit, expert)
            stored = await anyio.to_thread.run_sync(lambda: self.manager.register_expert(expert, replace=replace))
        except ConfigError as exc:
            raise InvalidRequestError(exc.message, hint=exc.hint) from None
        await self.resync()
        return stored

    async def remove_expert(self, name: str) -> ExpertConfig:
        """``DELETE /experts/{name}``."""
        removed = await anyio.to_thread.run_sync(self.manager.unregister_expert, name)
        await self.resync()
        return removed

    # --- health ----------------------------------------------------------------------------------

    def health(self) -> RouterHealth:
        """``GET /health``: healthy, degraded (some experts unreachable, registry not reloaded) or unhealthy."""
        names = self.expert_names()
        unavailable = set(self.pool.unavailable())
        reachable = [n for n in names if n not in unavailable]
        reasons = [f"no healthy replica of '{n}'" for n in names if n in unavailable]
        if self.manager.last_error is not None:
            reasons.append(f"registry not reloaded (the last one read is in use): {self.manager.last_error.message}")
        reasons += self.limit_problems()
        if not names:
            reasons.append("no expert is registered")
        status: Literal["healthy", "degraded", "unhealthy"] = (
            "unhealthy" if not reachable else "degraded" if reasons else "healthy"
        )
        return RouterHealth(
            status=status,
            uptime=self.uptime(),
            experts=len(names),
            available_experts=len(reachable),
            classifier=self.classifier_name,
            active_requests=self.admission.active,
            queued_requests=self.admission.queued,
            reasons=reasons,
        )

    def ready(self) -> ReadyResponse:
        """``GET /ready``: whether some expert can answer now."""
        names = self.expert_names()
        if not names:
            return ReadyResponse(ready=False, reason="no expert is registered")
        unavailable = set(self.pool.unavailable())
        if all(n in unavailable for n in names):
            return ReadyResponse(ready=False, reason="no expert has a healthy replica")
        return ReadyResponse(ready=True)

    def render_metrics(self) -> bytes:
        """``GET /metrics``."""
        return self.metrics.render(self.pool, self.admission.active, self.admission.queued)

    def count_refused(self, path: str, model: str, status: Any) -> None:
        """A routed request answered before it was forwarded (400, 401, 404, 429, 503...)."""
        if path in self.counted_paths:
            self.metrics.request_of(model, int(status or 0)).inc()
