"""What classifiers return and describe: :class:`ClassificationResult`, :class:`ExpertInfo`.

Only msgspec is imported here, so a router can decode and encode results cheaply.
"""

from __future__ import annotations

import msgspec

#: The classifier that decided: ``keyword``, ``neural``, ``hybrid`` or a plugin's own name.
Method = str


class ClassificationResult(msgspec.Struct, kw_only=True):
    """Where a query should go, and how sure the classifier is.

    Attributes:
        expert: the chosen expert (the fallback expert when ``fallback`` is true).
        confidence: 0..1; how sure the classifier is of ``expert``.
        scores: a score in 0..1 for every expert the classifier knows (higher is better).
        method: which classifier decided: ``keyword``, ``neural``, ``hybrid`` or a plugin's name.
        fallback: true when no expert was confident enough and the fallback was chosen.
        detail: how the decision was made (``fast-path``, ``combined``, ``disagreement``,
            ``below-threshold``, ``no-match``...), for logs and ``/route``.
    """

    expert: str
    confidence: float
    scores: dict[str, float]
    method: Method
    fallback: bool = False
    detail: str = ""

    def alternatives(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` best other experts with their scores, best first."""
        ranked = sorted(self.scores.items(), key=lambda kv: -kv[1])
        return [(name, score) for name, score in ranked if name != self.expert][:n]


class ExpertInfo(msgspec.Struct, kw_only=True, frozen=True):
    """What a classifier knows about one expert (``list_experts()``)."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    priority: int = 0
