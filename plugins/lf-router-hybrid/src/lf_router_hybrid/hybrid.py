"""``HybridClassifier``: keywords as the fast path, embeddings otherwise (SRS 3.4.4, SDD 8.2).

1. The keyword classifier runs first (microseconds). When it is confident
   (``confidence >= keyword_threshold``) its answer stands and no embedding is computed.
2. Otherwise the neural classifier runs. If the keywords matched nothing, its answer
   stands. If it abstains (no expert close enough), the fallback expert answers: keywords
   below their threshold do not overrule it.
3. Otherwise the two score distributions are combined,
   ``keyword_weight * keyword_scores + neural_weight * neural_scores``, and the best
   expert wins. When the two classifiers disagree, the confidence is multiplied by
   ``1 - disagreement_penalty`` and the disagreement is logged (debug level).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lf.kinds import BaseClassifier, ClassificationResult, ExpertInfo, ExpertSource, apply_exclusions
from lf_router_hybrid.keyword import KeywordClassifier

if TYPE_CHECKING:
    from lf_router_hybrid.config import HybridConfig
    from lf_router_hybrid.neural import NeuralClassifier, ThresholdReport

log = logging.getLogger("lf_router_hybrid")

#: Precision a term needs in the training pairs before :meth:`HybridClassifier.train` mines it as a
#: keyword. A confident keyword answers on the fast path without the neural classifier, so it must be
#: about as precise as that classifier (~0.98 on CLINC150), not the keyword classifier's own 0.8: with
#: 0.8 the hybrid routed 0.3 % fewer in-scope CLINC150 val queries right than the neural classifier alone.
KEYWORD_PRECISION = 0.95


class HybridClassifier(BaseClassifier):
    """Keyword fast path plus neural classification, weighted.

    Args:
        keyword_classifier: default: a new :class:`KeywordClassifier`.
        neural_classifier: default: a new :class:`NeuralClassifier` (loads MiniLM).
        keyword_weight, neural_weight: weights of the two score distributions.
        keyword_threshold: keyword confidence at or above which the keyword answer stands.
        disagreement_penalty: confidence lost when the two disagree (0..1).
        fallback_expert: where unclassifiable queries go (default ``general``).
    """

    method = "hybrid"

    def __init__(
        self,
        keyword_classifier: KeywordClassifier | None = None,
        neural_classifier: NeuralClassifier | None = None,
        keyword_weight: float = 0.4,
        neural_weight: float = 0.6,
        keyword_threshold: float = 0.8,
        *,
        disagreement_penalty: float = 0.3,
        fallback_expert: str | None = None,
    ) -> None:
        super().__init__(fallback_expert=fallback_expert)
        if keyword_weight < 0 or neural_weight < 0 or keyword_weight + neural_weight <= 0:
            from lf.errors import ConfigError

            raise ConfigError("keyword_weight and neural_weight must be >= 0 and not both 0.")
        if neural_classifier is None:
            from lf_router_hybrid.neural import NeuralClassifier

            neural_classifier = NeuralClassifier(fallback_expert=fallback_expert)
        self.keyword = keyword_classifier or KeywordClassifier(fallback_expert=fallback_expert)
        self.neural = neural_classifier
        if fallback_expert:
            self.keyword.fallback_expert = fallback_expert
            self.neural.fallback_expert = fallback_expert
        total = keyword_weight + neural_weight
        self.keyword_weight = keyword_weight / total
        self.neural_weight = neural_weight / total
        self.keyword_threshold = keyword_threshold
        self.disagreement_penalty = disagreement_penalty
        self.disagreements = 0
        known = {e.name: e for e in [*self.keyword.list_experts(), *self.neural.list_experts()]}
        self._experts = known

    @classmethod
    def from_config(
        cls, config: HybridConfig | None, experts: ExpertSource, *, fallback_expert: str | None = None
    ) -> HybridClassifier:
        """How the router builds it (:class:`lf.kinds.Classifier`): its options and the enabled experts."""
        from lf_router_hybrid.config import HybridConfig
        from lf_router_hybrid.neural import NeuralClassifier

        config = config or HybridConfig()
        kw, nn = config.keyword, config.neural
        keyword = KeywordClassifier(
            case_sensitive=kw.case_sensitive,
            plurals=kw.plurals,
            evidence_scale=kw.evidence_scale,
            fallback_expert=fallback_expert,
        )
        neural = NeuralClassifier(
            model_name=nn.model_path,
            threshold=nn.threshold,
            k=nn.k,
            cache_size=nn.cache_size,
            batch_size=nn.batch_size,
            max_length=nn.max_length,
            num_threads=nn.num_threads,
            precision=nn.precision,
            fallback_expert=fallback_expert,
        )
        hybrid = cls(
            keyword,
            neural,
            keyword_weight=config.keyword_weight,
            neural_weight=config.neural_weight,
            keyword_threshold=config.keyword_threshold,
            disagreement_penalty=config.disagreement_penalty,
            fallback_expert=fallback_expert,
        )
        hybrid.sync_experts(experts)
        if nn.state:
            neural.load_state(nn.state)
        return hybrid

    @classmethod
    def from_experts(cls, source: ExpertSource, **kwargs: Any) -> HybridClassifier:
        """A hybrid classifier (keyword + neural) for the experts of a manager or list."""
        classifier = cls(**kwargs)
        classifier.sync_experts(source)
        return classifier

    def _rebuild(self, experts: dict[str, ExpertInfo], added: list[ExpertInfo], removed: list[str]) -> None:
        self.keyword._update(added, removed)
        self.neural._update(added, removed)

    @property
    def fallback_expert(self) -> str:
        """The expert that answers when nothing else fits."""
        return self._fallback or self.neural.fallback_expert

    @fallback_expert.setter
    def fallback_expert(self, name: str | None) -> None:
        self._fallback = name
        self.keyword.fallback_expert = name
        self.neural.fallback_expert = name

    # --- classifying ------------------------------------------------------------------------

    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """Keyword fast path, else the weighted combination with the neural classifier."""
        kw = self.keyword.classify(query)
        if self._fast(kw):
            return self._finish(self._from_keyword(kw), context)
        return self._finish(self._combine(kw, self.neural.classify(query)), context)

    def classify_fast(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult | None:
        """The answer when the keyword fast path settles ``query`` (microseconds), else None.

        The router calls it on its event loop and sends only the other queries to a thread.
        """
        kw = self.keyword.classify(query)
        return self._finish(self._from_keyword(kw), context) if self._fast(kw) else None

    def classify_batch(
        self, queries: Sequence[str], contexts: Sequence[dict[str, Any] | None] | None = None
    ) -> list[ClassificationResult]:
        """Keyword for all; one batched neural pass for those the keywords did not settle."""
        kws = [self.keyword.classify(q) for q in queries]
        slow = [i for i, kw in enumerate(kws) if not self._fast(kw)]
        neural = self.neural.classify_batch([queries[i] for i in slow]) if slow else []
        by_index = dict(zip(slow, neural, strict=True))
        ctxs = contexts or [None] * len(queries)
        out = []
        for i, kw in enumerate(kws):
            result = self._combine(kw, by_index[i]) if i in by_index else self._from_keyword(kw)
            out.append(self._finish(result, ctxs[i]))
        return out

    def _fast(self, kw: ClassificationResult) -> bool:
        return not kw.fallback and kw.confidence >= self.keyword_threshold

    def _finish(self, result: ClassificationResult, context: dict[str, Any] | None) -> ClassificationResult:
        return apply_exclusions(result, context, self.fallback_expert) if context else result

    @staticmethod
    def _from_keyword(kw: ClassificationResult) -> ClassificationResult:
        return ClassificationResult(
            expert=kw.expert,
            confidence=kw.confidence,
            scores=kw.scores,
            method="hybrid",
            fallback=False,
            detail="fast-path",
        )

    def _combine(self, kw: ClassificationResult, nn: ClassificationResult) -> ClassificationResult:
        if kw.fallback:  # no keyword matched: the neural answer stands
            return ClassificationResult(
                expert=nn.expert,
                confidence=nn.confidence,
                scores=nn.scores,
                method="hybrid",
                fallback=nn.fallback,
                detail=f"neural:{nn.detail}",
            )
        if nn.fallback and nn.detail.startswith("below-threshold"):
            return ClassificationResult(
                expert=nn.expert,
                confidence=nn.confidence,
                scores=nn.scores,
                method="hybrid",
                fallback=True,
                detail=f"neural-abstained:{nn.detail}",
            )
        names = nn.scores.keys() | kw.scores.keys()
        scores = {
            n: self.keyword_weight * kw.scores.get(n, 0.0) + self.neural_weight * nn.scores.get(n, 0.0) for n in names
        }
        best = max(scores, key=lambda n: scores[n])
        confidence = scores[best]
        detail = "combined"
        if kw.expert != nn.expert:
            self.disagreements += 1
            confidence *= 1.0 - self.disagreement_penalty
            detail = f"disagreement:keyword={kw.expert},neural={nn.expert}"
            log.debug(
                "router disagreement: keyword chose %s (%.2f), neural %s (%.2f); combined %s",
                kw.expert,
                kw.confidence,
                nn.expert,
                nn.confidence,
                best,
            )
        return ClassificationResult(
            expert=best,
            confidence=confidence,
            scores=scores,
            method="hybrid",
            fallback=best == self.fallback_expert,
            detail=detail,
        )

    # --- learning -------------------------------------------------------------------------------

    def train(self, training_data: Iterable[tuple[str, str]], epochs: int = 3, **kwargs: Any) -> dict[str, float]:
        """Mine keywords (at :data:`KEYWORD_PRECISION`) from the pairs and train the neural classifier on them."""
        pairs = list(training_data)
        self.keyword.train(pairs, exclude=[self.fallback_expert], min_precision=KEYWORD_PRECISION)
        return self.neural.train(pairs, epochs, **kwargs)

    def fit_thresholds(self, val_pairs: Iterable[tuple[str, str]], **kwargs: Any) -> ThresholdReport:
        """Fit the neural classifier's per-expert abstain thresholds."""
        return self.neural.fit_thresholds(val_pairs, **kwargs)
