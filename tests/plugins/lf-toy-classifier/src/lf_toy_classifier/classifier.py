"""The implementation, imported only when the classifier is used."""

from __future__ import annotations

from typing import Any

from lf_toy_classifier import ToyConfig


class ToyClassifier:
    """The expert whose words occur most often in the query."""

    def __init__(self, config: ToyConfig | None = None) -> None:
        self.config = config or ToyConfig()

    def classify(self, query: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Count hits; no hit means the fallback."""
        words = query.lower().split()
        scores = {name: sum(words.count(k) for k in keys) for name, keys in self.config.experts.items()}
        best = max(scores, key=lambda n: scores[n]) if any(scores.values()) else self.config.fallback
        return {"expert": best, "scores": scores}
