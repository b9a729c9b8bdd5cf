"""Per-expert abstain thresholds of the neural classifier, fitted on held-out labelled queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lf.errors import DataError
from lf_router_hybrid.neural_index import abstain_scores


@dataclass
class ThresholdReport:
    """What :meth:`NeuralClassifier.fit_thresholds` found on the validation pairs."""

    thresholds: dict[str, float]
    in_scope_accuracy: float
    fallback_recall: float | None
    in_scope: int
    fallback_examples: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationScores:
    """The scores of the validation queries and what they are labelled (indices into ``names``)."""

    names: list[str]
    #: (queries, experts) nearest-exemplar scores
    scores: np.ndarray
    #: expert index per query; -1 for the fallback when it is not an expert of the classifier
    labels: np.ndarray
    #: the fallback expert's index (-1: not an expert of the classifier)
    fallback: int
    #: the expert whose score the abstain score is relative to (-1: none; see ``abstain_scores``)
    relative_to: int = -1


def fit_per_expert(val: ValidationScores, max_loss: float, prior: float) -> tuple[dict[str, float], float]:
    """Thresholds losing at most ``max_loss`` of each expert's correctly routed queries, and the global one.

    Each expert's own quantile is shrunk towards the global quantile with ``prior`` pseudo-queries.
    """
    pred = val.scores.argmax(axis=1)  # as classify() decides: the fallback may win outright
    top = abstain_scores(val.scores, val.relative_to)
    correct = (val.labels != val.fallback) & (pred == val.labels)
    if correct.sum() == 0:
        raise DataError("No validation query reached its expert: thresholds cannot be fitted.")
    global_t = float(np.quantile(top[correct], max_loss))
    fitted: dict[str, float] = {}
    for j, name in enumerate(val.names):
        if j == val.fallback:
            continue
        mine = top[correct & (pred == j)]
        own = float(np.quantile(mine, max_loss)) if len(mine) else global_t
        fitted[name] = (len(mine) * own + prior * global_t) / (len(mine) + prior)
    return fitted, global_t


def report(val: ValidationScores, fitted: dict[str, float], default: float, global_t: float) -> ThresholdReport:
    """How the validation queries route under ``fitted`` (``default`` for experts without one)."""
    pred = val.scores.argmax(axis=1)
    top = abstain_scores(val.scores, val.relative_to)
    fb = val.fallback
    in_scope = val.labels != fb
    t = np.array([fitted.get(n, default) for n in val.names])
    routed = np.where((pred == fb) | (top >= t[pred]), pred, fb)
    acc = float((routed[in_scope] == val.labels[in_scope]).mean()) if in_scope.any() else 0.0
    oos = ~in_scope
    recall = float((routed[oos] == fb).mean()) if oos.any() else None
    return ThresholdReport(fitted, acc, recall, int(in_scope.sum()), int(oos.sum()), {"global": global_t})
