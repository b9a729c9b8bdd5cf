"""Background checks of every replica: ``/ready`` (can it serve?) and ``/health`` (its status).

A replica that fails a check (refused, reset, timed out) is marked down and its breaker
counts a failure. When the breaker has opened and the replica has answered nothing for a
while (:meth:`~lf_router_hybrid.service.pool.Replica.hung`), the attempts still waiting on
it are abandoned so that they are retried elsewhere - never for a replica that is merely
slow under load (it keeps answering). Each expert's state is recorded in the registry's tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import httpx

from lf.errors import LFError
from lf.logs import get_logger

if TYPE_CHECKING:
    from lf_router_hybrid.service.pool import Replica
    from lf_router_hybrid.service.router import RouterService

log = get_logger("lf.router")


async def check_replicas(router: RouterService) -> None:
    """Check every replica at once, then record each expert's state in the registry's tracker."""
    router.fwd.transport.prune()
    replicas = router.pool.replicas()
    if replicas:
        await asyncio.gather(*(check_replica(router, r) for r in replicas))
    for expert in router.manager.list_experts(enabled_only=True):
        reps = router.pool.replicas(expert.name)
        if not reps:
            continue
        if any(r.available() for r in reps):
            state = "ready"
        elif any(r.healthy and not r.ready for r in reps):
            state = "loading"
        else:
            state = "error"
        with contextlib.suppress(LFError):
            router.manager.set_state(expert.name, state)  # type: ignore[arg-type]


async def check_replica(router: RouterService, replica: Replica) -> None:
    """``/ready`` and ``/health`` of one replica; feeds its breaker."""
    fwd = router.fwd
    headers = fwd.headers_for(replica.url)
    timeout = httpx.Timeout(router.options.health_checks.timeout_s)
    try:
        ready = await fwd.client.get(f"{replica.url}/ready", headers=headers, timeout=timeout)
        health = await fwd.client.get(f"{replica.url}/health", headers=headers, timeout=timeout)
    except httpx.TransportError as exc:
        checks = router.options.health_checks
        _down(replica, f"health check: {type(exc).__name__}", silence_s=2 * checks.interval_s + checks.timeout_s)
        return
    replica.checked_at = time.monotonic()
    replica.healthy = True
    # not an lf server when /ready is unknown: its /health decides
    replica.ready = (health if ready.status_code == 404 else ready).status_code == 200
    try:
        replica.status = str(health.json().get("status"))
    except (ValueError, AttributeError):
        replica.status = None
    if replica.ready:
        replica.breaker.success()
        if not replica.models:
            with contextlib.suppress(httpx.TransportError):
                await fwd.models_of(replica)


def _down(replica: Replica, error: str, *, silence_s: float) -> None:
    replica.healthy = False
    replica.last_error = error
    replica.breaker.failure()
    replica.checked_at = time.monotonic()
    if not replica.hung(silence_s):
        return
    abandoned = replica.abandon_attempts()
    if abandoned:
        log.warning(
            "replica down: attempts retried elsewhere", extra={"context": {"replica": replica.url, "n": abandoned}}
        )
