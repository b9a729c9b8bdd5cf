"""The ``route`` kind: what a query classifier is, and what it returns.

The router service (``lf serve router``, ``lf run route --plugin NAME``) calls exactly
the members of :class:`Classifier`; :class:`BaseClassifier` implements all of them but
``classify`` and ``_rebuild``, so a classifier package depends on ``lf-core`` alone::

    from lf.kinds import BaseClassifier, ClassificationResult

    class RegexClassifier(BaseClassifier):
        method = "regex"

        def _rebuild(self, experts, added, removed):   # experts: {name: ExpertInfo}
            self.patterns = {n: [re.compile(k) for k in e.keywords] for n, e in experts.items()}

        def classify(self, query, context=None):
            ...
            return ClassificationResult(expert=best, confidence=0.9, scores=scores, method=self.method)

Options: register a ``config`` Struct on the spec; the router builds the classifier with
``from_config(config, experts, fallback_expert=...)``, which by default passes the config
to ``__init__`` (read it as ``self.config``). Users set the options with ``--config`` and
``--set option=value`` beside the router's own options.

Fallbacks: the router classifies, then - if the chosen expert has no healthy replica -
moves the result to the best other expert itself (:func:`apply_exclusions`), which sets
:attr:`ClassificationResult.fallback_from`. Headers (``X-LF-Fallback-From``) and metrics
come from that field; a classifier never has to signal it in text.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, Union, runtime_checkable

import msgspec

from lf.errors import ModelNotFoundError

if TYPE_CHECKING:
    from lf.experts import ExpertConfig, ExpertManager

#: The name of the catch-all expert the requirements list first.
GENERAL = "general"


class ClassificationResult(msgspec.Struct, kw_only=True):
    """Where a query should go, and how sure the classifier is.

    Attributes:
        expert: the chosen expert (the fallback expert when ``fallback`` is true).
        confidence: 0..1; how sure the classifier is of ``expert``.
        scores: a score in 0..1 for every expert the classifier knows (higher is better).
        method: which classifier decided: ``keyword``, ``neural``, ``hybrid`` or a plugin's name.
        fallback: true when the fallback expert was chosen (nothing fitted, or what fitted was excluded).
        fallback_from: the expert that was chosen first but excluded (e.g. no healthy replica);
            the router reports it as ``X-LF-Fallback-From``. None when nothing was excluded.
        detail: how the decision was made (``fast-path``, ``below-threshold``...), for logs and ``/route``.
    """

    expert: str
    confidence: float
    scores: dict[str, float]
    method: str
    fallback: bool = False
    fallback_from: str | None = None
    detail: str = ""

    def alternatives(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` best other experts with their scores, best first."""
        ranked = sorted(self.scores.items(), key=lambda kv: -kv[1])
        return [(name, score) for name, score in ranked if name != self.expert][:n]


class ExpertInfo(msgspec.Struct, kw_only=True, frozen=True):
    """What a classifier knows about one expert (from the registry's :class:`lf.experts.ExpertConfig`)."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    priority: int = 0


ExpertSource = Union["ExpertManager", Iterable[Union["ExpertConfig", ExpertInfo]]]
C = TypeVar("C", bound="BaseClassifier")


@runtime_checkable
class Classifier(Protocol):
    """What the router calls on a classifier (``lf.testing.check_plugin`` checks exactly these)."""

    @classmethod
    def from_config(cls, config: Any, experts: ExpertSource, *, fallback_expert: str | None = None) -> Classifier:
        """Build one from the component's options (its spec's config, or None) and the enabled experts."""
        ...

    @property
    def fallback_expert(self) -> str:
        """The expert that answers when nothing else fits or is reachable."""
        ...

    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """The expert for ``query`` (must be thread-safe: the router calls it from a worker thread)."""
        ...

    def classify_batch(
        self, queries: Sequence[str], contexts: Sequence[dict[str, Any] | None] | None = None
    ) -> list[ClassificationResult]:
        """:meth:`classify` for many queries at once (the router batches queries under load)."""
        ...

    def sync_experts(self, source: ExpertSource) -> bool:
        """Make the experts match ``source`` (the registry changed); returns whether anything changed."""
        ...

    def list_experts(self) -> list[ExpertInfo]:
        """The experts this classifier chooses among."""
        ...


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
    """The requirements' ``BaseClassifier``: classify, add/remove/list experts, batch, registry sync.

    Classification is thread-safe: each call reads a snapshot that changes replace as a whole.

    Args:
        config: the component's options (its spec's config Struct), kept as ``self.config``.
        fallback_expert: where queries go when no expert is confident enough; default
            ``general`` when registered, else the expert of highest priority.
    """

    #: The name results carry as ``method``.
    method: ClassVar[str]

    def __init__(self, config: msgspec.Struct | None = None, *, fallback_expert: str | None = None) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._experts: dict[str, ExpertInfo] = {}
        self._fallback = fallback_expert

    @classmethod
    def from_config(cls: type[C], config: Any, experts: ExpertSource, *, fallback_expert: str | None = None) -> C:
        """How the router builds a classifier: ``cls(config, fallback_expert=...)``, then the experts.

        Override it when building takes more (a trained state to load, options to unpack).
        """
        classifier = cls(config, fallback_expert=fallback_expert)
        classifier.sync_experts(experts)
        return classifier

    @classmethod
    def from_experts(cls: type[C], source: ExpertSource, **kwargs: Any) -> C:
        """A classifier for the enabled experts of an ``ExpertManager`` or a list of experts."""
        classifier = cls(**kwargs)
        classifier.sync_experts(source)
        return classifier

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
        """Add (or replace) an expert: a name and its description, keywords and example queries."""
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
        """Make the experts match ``source`` (a manager or a list); only changes are applied."""
        wanted = {i.name: i for i in infos_of(source)}
        with self._lock:
            added = [i for n, i in wanted.items() if self._experts.get(n) != i]
            removed = [n for n in self._experts if n not in wanted]
            if added or removed:
                self._update(added, removed)
        return bool(added or removed)

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

        ``context`` may hold ``exclude``: expert names not to choose; honour it with
        :func:`apply_exclusions` (the router applies it again to every result anyway).
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
    """Honour ``context["exclude"]``: move to the best expert not excluded, else to ``fallback``.

    The moved result names the excluded expert in ``fallback_from``.
    """
    exclude = (context or {}).get("exclude")
    if not exclude or result.expert not in exclude:
        return result
    moved_from = result.fallback_from or result.expert
    detail = f"{result.detail},excluded:{result.expert}".lstrip(",")
    top = max(result.scores.values(), default=0.0) or 1.0
    for name, score in sorted(result.scores.items(), key=lambda kv: -kv[1]):
        if name not in exclude and score > 0 and name != fallback:
            return msgspec.structs.replace(
                result,
                expert=name,
                confidence=result.confidence * score / top,
                fallback=False,
                fallback_from=moved_from,
                detail=detail,
            )
    return msgspec.structs.replace(
        result, expert=fallback, confidence=0.0, fallback=True, fallback_from=moved_from, detail=detail
    )
