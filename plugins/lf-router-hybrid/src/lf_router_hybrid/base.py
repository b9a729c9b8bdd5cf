"""What every classifier shares: the expert list, the fallback, batch and registry sync.

A classifier is built from an :class:`lf.experts.ExpertManager` or a list of
:class:`lf.experts.ExpertConfig` (``from_experts``), or expert by expert (``add_expert``).
Classification is thread-safe: each call reads an immutable snapshot that changes are
swapped in as a whole.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union

from lf.errors import ModelNotFoundError
from lf_router_hybrid.types import ClassificationResult, ExpertInfo, Method

if TYPE_CHECKING:
    from lf.experts import ExpertConfig, ExpertManager

C = TypeVar("C", bound="BaseClassifier")
ExpertSource = Union["ExpertManager", Iterable[Union["ExpertConfig", ExpertInfo]]]

#: The name of the catch-all expert the requirements list first.
GENERAL = "general"


def to_info(expert: ExpertConfig | ExpertInfo) -> ExpertInfo:
    """An :class:`ExpertInfo` from a registry entry (or itself)."""
    if isinstance(expert, ExpertInfo):
        return expert
    return ExpertInfo(
        name=expert.name,
        description=expert.description,
        keywords=tuple(expert.keywords),
        examples=tuple(expert.examples),
        domains=tuple(expert.domains),
        priority=expert.priority,
    )


def infos_of(source: ExpertSource) -> list[ExpertInfo]:
    """The enabled experts of a manager or a list, as :class:`ExpertInfo`."""
    from lf.experts import ExpertManager

    if isinstance(source, ExpertManager):
        return [to_info(e) for e in source.list_experts(enabled_only=True)]
    return [to_info(e) for e in source if isinstance(e, ExpertInfo) or e.enabled]


class BaseClassifier(ABC):
    """The requirements' ``BaseClassifier``: classify, add/remove/list experts, batch.

    Args:
        fallback_expert: where queries go when no expert is confident enough; default
            ``general`` when registered, else the expert of highest priority.
    """

    method: ClassVar[Method]

    def __init__(self, *, fallback_expert: str | None = None) -> None:
        self._lock = threading.RLock()
        self._experts: dict[str, ExpertInfo] = {}
        self._fallback = fallback_expert

    # --- experts ----------------------------------------------------------------------------

    @property
    def fallback_expert(self) -> str:
        """The expert that answers when nothing else fits."""
        if self._fallback:
            return self._fallback
        if GENERAL in self._experts or not self._experts:
            return GENERAL
        return max(self._experts.values(), key=lambda e: e.priority).name

    @fallback_expert.setter
    def fallback_expert(self, name: str | None) -> None:
        self._fallback = name

    def add_expert(
        self,
        name: str | ExpertConfig | ExpertInfo,
        description: str = "",
        keywords: Sequence[str] | None = None,
        *,
        examples: Sequence[str] | None = None,
        domains: Sequence[str] | None = None,
        priority: int = 0,
    ) -> None:
        """Add (or replace) an expert: a name and its description, keywords and example queries.

        ``name`` may also be an :class:`lf.experts.ExpertConfig` or an :class:`ExpertInfo`.
        """
        if isinstance(name, str):
            info = ExpertInfo(
                name=name,
                description=description,
                keywords=tuple(keywords or ()),
                examples=tuple(examples or ()),
                domains=tuple(domains or ()),
                priority=priority,
            )
        else:
            info = to_info(name)
        self._update([info], [])

    def remove_expert(self, name: str) -> None:
        """Forget an expert; :class:`lf.errors.ModelNotFoundError` if it is unknown."""
        if name not in self._experts:
            raise ModelNotFoundError(f"The classifier has no expert '{name}'. It has: {', '.join(self._experts)}.")
        self._update([], [name])

    def list_experts(self) -> list[ExpertInfo]:
        """The experts this classifier chooses among."""
        return list(self._experts.values())

    def sync_experts(self, source: ExpertSource) -> bool:
        """Make the experts match ``source`` (a manager or a list); only changes are applied.

        A router calls this after ``manager.refresh_if_changed()`` returned True. Returns
        whether anything changed.
        """
        wanted = {i.name: i for i in infos_of(source)}
        with self._lock:
            added = [i for n, i in wanted.items() if self._experts.get(n) != i]
            removed = [n for n in self._experts if n not in wanted]
            if added or removed:
                self._update(added, removed)
        return bool(added or removed)

    @classmethod
    def from_experts(cls: type[C], source: ExpertSource, **kwargs: Any) -> C:
        """A classifier for the enabled experts of an ``ExpertManager`` or a list of ``ExpertConfig``."""
        classifier = cls(**kwargs)
        classifier.sync_experts(source)
        return classifier

    def _update(self, added: list[ExpertInfo], removed: list[str]) -> None:
        with self._lock:
            experts = dict(self._experts)
            for name in removed:
                experts.pop(name, None)
            for info in added:
                experts[info.name] = info
            self._rebuild(experts, added, removed)
            self._experts = experts

    @abstractmethod
    def _rebuild(self, experts: dict[str, ExpertInfo], added: list[ExpertInfo], removed: list[str]) -> None:
        """Rebuild the classifier's index for ``experts`` (called under the lock)."""

    # --- classifying ------------------------------------------------------------------------

    @abstractmethod
    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """The expert for ``query``.

        ``context`` may hold ``exclude``: expert names not to choose (e.g. those with no
        healthy replica); the next best expert, or the fallback, is chosen instead.
        """

    def classify_batch(
        self, queries: Sequence[str], contexts: Sequence[dict[str, Any] | None] | None = None
    ) -> list[ClassificationResult]:
        """:meth:`classify` for many queries (neural classifiers embed them in batches)."""
        ctxs = contexts or [None] * len(queries)
        return [self.classify(q, c) for q, c in zip(queries, ctxs, strict=True)]

    def _empty(self, detail: str = "no-experts") -> ClassificationResult:
        return ClassificationResult(
            expert=self.fallback_expert, confidence=0.0, scores={}, method=self.method, fallback=True, detail=detail
        )


def apply_exclusions(
    result: ClassificationResult, context: dict[str, Any] | None, fallback: str
) -> ClassificationResult:
    """Honour ``context["exclude"]``: move to the best expert not excluded, else to ``fallback``."""
    if not context:
        return result
    exclude = context.get("exclude")
    if not exclude or result.expert not in exclude:
        return result
    for name, score in sorted(result.scores.items(), key=lambda kv: -kv[1]):
        if name not in exclude and score > 0 and name != fallback:
            top = max(result.scores.values()) or 1.0
            return ClassificationResult(
                expert=name,
                confidence=result.confidence * score / top,
                scores=result.scores,
                method=result.method,
                fallback=False,
                detail=f"{result.detail},excluded:{result.expert}".lstrip(","),
            )
    return ClassificationResult(
        expert=fallback,
        confidence=0.0,
        scores=result.scores,
        method=result.method,
        fallback=True,
        detail=f"{result.detail},excluded:{result.expert}".lstrip(","),
    )
