"""The classifier: each expert's keywords are compiled as regular expressions."""

from __future__ import annotations

import re
from typing import Any

from lf.errors import ConfigError
from lf.kinds import BaseClassifier, ClassificationResult
from lf_classifier_regex import RegexOptions


class RegexClassifier(BaseClassifier):
    """The expert with the most matching patterns wins (priority breaks ties)."""

    method = "regex"

    @property
    def options(self) -> RegexOptions:
        """Its options: given by the router (``from_config``), else the defaults."""
        return self.config if isinstance(self.config, RegexOptions) else RegexOptions()

    def _rebuild(self, experts: dict[str, Any], added: list[Any], removed: list[str]) -> None:
        flags = 0 if self.options.case_sensitive else re.IGNORECASE
        compiled: dict[str, list[re.Pattern[str]]] = {}
        for name, info in experts.items():
            try:
                compiled[name] = [re.compile(k, flags) for k in info.keywords]
            except re.error as exc:
                raise ConfigError(f"Expert '{name}' has an invalid regular expression: {exc}") from exc
        self.patterns = compiled
        self.priority = {name: info.priority for name, info in experts.items()}

    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """Count matching patterns per expert; fewer than ``min_matches`` everywhere means the fallback."""
        excluded = set((context or {}).get("exclude", ()))
        hits = {name: sum(bool(p.search(query)) for p in pats) for name, pats in self.patterns.items()}
        scores = {name: (n / len(self.patterns[name]) if self.patterns[name] else 0.0) for name, n in hits.items()}
        candidates = [n for n in hits if hits[n] >= self.options.min_matches and n not in excluded]
        if not candidates:
            return ClassificationResult(
                expert=self.fallback_expert, confidence=0.0, scores=scores, method=self.method, fallback=True
            )
        best = max(candidates, key=lambda n: (hits[n], self.priority[n]))
        runner_up = max((hits[n] for n in candidates if n != best), default=0)
        confidence = (hits[best] - runner_up) / hits[best]
        return ClassificationResult(expert=best, confidence=confidence, scores=scores, method=self.method)
