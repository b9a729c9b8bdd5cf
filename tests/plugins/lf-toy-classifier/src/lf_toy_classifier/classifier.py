"""The implementation, imported only when the classifier is used."""

from __future__ import annotations

from typing import Any

from lf.kinds import BaseClassifier, ClassificationResult
from lf_toy_classifier import ToyConfig


class ToyClassifier(BaseClassifier):
    """The expert whose keywords occur most often in the query."""

    method = "toy"

    def _rebuild(self, experts: dict[str, Any], added: list[Any], removed: list[str]) -> None:
        self.words = {name: [k.lower() for k in info.keywords] for name, info in experts.items()}

    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """Count hits; fewer than ``min_hits`` means the fallback."""
        needed = self.config.min_hits if isinstance(self.config, ToyConfig) else 1
        words = query.lower().split()
        hits = {name: sum(words.count(k) for k in keys) for name, keys in self.words.items()}
        best = max(hits, key=lambda n: hits[n], default=self.fallback_expert)
        scores = {name: min(1.0, n / needed) for name, n in hits.items()}
        if hits.get(best, 0) < needed:
            return ClassificationResult(
                expert=self.fallback_expert, confidence=0.0, scores=scores, method=self.method, fallback=True
            )
        return ClassificationResult(expert=best, confidence=1.0, scores=scores, method=self.method)
