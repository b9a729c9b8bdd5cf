"""Which expert answers a request, and why: classified, named, or the fallback.

The classifier classifies; the router - not the classifier - then moves the result away
from experts without a healthy replica (:func:`lf.kinds.apply_exclusions`), so that
``X-LF-Fallback-From`` and the fallback metrics come from
:attr:`~lf.kinds.ClassificationResult.fallback_from` for every classifier, built-in or
third-party.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lf.errors import ModelNotFoundError
from lf.kinds import ClassificationResult, apply_exclusions

if TYPE_CHECKING:
    from lf_router_hybrid.service.router import RouterService

DecisionKind = Literal["classified", "named", "fallback"]


@dataclass
class Decision:
    """Which expert answers a request, and why."""

    expert: str
    kind: DecisionKind
    #: The expert that should have answered, when the fallback (or another expert) does instead.
    fallback_from: str | None = None
    reason: str | None = None
    confidence: float | None = None
    selection_s: float = 0.0
    result: ClassificationResult | None = None

    def headers(self) -> dict[str, str]:
        """``X-LF-Expert``, ``X-LF-Routing`` and, on fallback, ``X-LF-Fallback-From``."""
        out = {"x-lf-expert": self.expert, "x-lf-routing": self.kind}
        if self.fallback_from:
            out["x-lf-fallback-from"] = self.fallback_from
        if self.kind != "named":
            out["x-lf-routing-ms"] = f"{self.selection_s * 1000:.3f}"
        return out

    def field(self) -> dict[str, Any]:
        """The ``router`` field added to a response answered by the fallback."""
        return {"expert": self.expert, "fallback": True, "fallback_from": self.fallback_from, "reason": self.reason}

    def fell_back(self, expert: str, reason: str) -> Decision:
        """This decision moved to ``expert`` because no replica of the intended one answered."""
        return Decision(
            expert,
            "fallback",
            fallback_from=self.fallback_from or self.expert,
            reason=reason,
            confidence=self.confidence,
            selection_s=self.selection_s,
            result=self.result,
        )


async def classify(router: RouterService, query: str, exclude: list[str] | None = None) -> Decision:
    """Classify ``query``, then move away from excluded and unreachable experts."""
    started = time.perf_counter()
    unavailable = router.pool.unavailable()
    skip = sorted({*unavailable, *(exclude or [])})
    result = await router.selector.classify(query, None)
    if skip:
        result = apply_exclusions(result, {"exclude": skip}, router.classifier.fallback_expert)
    took = time.perf_counter() - started
    router.metrics.selection.observe(took)
    decision = Decision(result.expert, "classified", confidence=result.confidence, selection_s=took, result=result)
    moved = result.fallback_from
    if moved is not None and moved in unavailable:
        decision.kind = "fallback"
        decision.fallback_from = moved
        decision.reason = f"no healthy replica of '{moved}'"
        router.metrics.fallbacks.labels(moved, result.expert).inc()
    return decision


async def decide(router: RouterService, model: str, query: Callable[[], str]) -> Decision:
    """The expert for a request: classified for ``auto``, else the named one; fallback when unreachable."""
    if model == router.options.auto_model:
        return await classify(router, query())
    expert = router.manager.get_expert(model)
    if expert is None or not expert.enabled:
        raise unknown_model(router, model, disabled=expert is not None)
    if router.pool.has_available(model):
        return Decision(model, "named")
    fallback = router.classifier.fallback_expert
    if fallback != model and router.pool.has_available(fallback):
        router.metrics.fallbacks.labels(model, fallback).inc()
        return Decision(fallback, "fallback", fallback_from=model, reason=f"no healthy replica of '{model}'")
    return Decision(model, "named")


def unknown_model(router: RouterService, model: str, *, disabled: bool = False) -> ModelNotFoundError:
    """MODEL_NOT_FOUND naming what the router serves."""
    names = ", ".join([router.options.auto_model, *router.expert_names()])
    what = "is disabled" if disabled else "is not an expert of this router"
    return ModelNotFoundError(
        f"The model '{model}' {what}. Use one of: {names}.",
        hint="GET /v1/models lists them; 'auto' lets the router choose.",
        details={"param": "model"},
    )
