"""The exemplar index the neural classifier reads: k-nearest-exemplar scores and the routing decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lf.kinds import ClassificationResult, apply_exclusions


@dataclass
class ExemplarIndex:
    """An immutable snapshot that ``classify`` reads (swapped whole on every change)."""

    names: list[str]
    #: [start, end) rows of ``vectors`` for each expert, in ``names`` order
    segments: list[tuple[int, int]]
    vectors: np.ndarray
    thresholds: np.ndarray
    k: int
    #: index of the fallback expert when its exemplars include labelled out-of-scope queries: the
    #: abstain score is then a margin over them (see :func:`abstain_scores`); -1: plain similarity
    relative_to: int = -1


def nearest_exemplar_scores(vectors: np.ndarray, index: ExemplarIndex) -> np.ndarray:
    """Per expert, the mean cosine of its ``k`` nearest exemplars: shape ``(queries, experts)``."""
    sims = vectors @ index.vectors.T
    out = np.full((len(vectors), len(index.names)), -1.0, dtype=np.float32)
    for j, (start, end) in enumerate(index.segments):
        n = end - start
        if n == 0:
            continue
        kk = min(index.k, n)
        block = sims[:, start:end]
        top = block if kk == n else np.partition(block, n - kk, axis=1)[:, n - kk :]
        out[:, j] = top.mean(axis=1)
    return out


def abstain_scores(scores: np.ndarray, relative_to: int) -> np.ndarray:
    """What each query's threshold is compared with: the best expert's score (minus expert ``relative_to``'s).

    With ``relative_to`` >= 0 - the fallback expert, whose exemplars are out-of-scope queries - the
    score is the best expert's margin over them.

    A query as close to known out-of-scope queries as to its best expert is not in scope however
    close it is: the out-of-scope training queries act as negatives. On CLINC150 this margin ranks
    unseen out-of-scope queries below in-scope ones better than the similarity alone (see the
    plugin README).
    """
    top = scores.max(axis=1)
    if relative_to < 0:
        return top
    return top - scores[:, relative_to]


def decide(
    index: ExemplarIndex, row: np.ndarray, temperature: float, fallback: str, context: dict[str, Any] | None
) -> ClassificationResult:
    """The best-scoring expert of one query's ``row`` of scores, or ``fallback`` below its threshold."""
    best = int(row.argmax())
    z = (row - row[best]) / temperature
    probs = np.exp(z)
    probs /= probs.sum()
    scores = {n: float(p) for n, p in zip(index.names, probs, strict=True)}
    top = float(abstain_scores(row[None, :], index.relative_to)[0])
    threshold = float(index.thresholds[best])
    if top < threshold and index.names[best] != fallback:
        result = ClassificationResult(
            expert=fallback,
            confidence=float(min(1.0, (threshold - top) / max(threshold, 1e-6))),
            scores=scores,
            method="neural",
            fallback=True,
            detail=f"below-threshold:{index.names[best]}:{top:.3f}<{threshold:.3f}",
        )
    else:
        result = ClassificationResult(
            expert=index.names[best],
            confidence=float(probs[best]),
            scores=scores,
            method="neural",
            fallback=index.names[best] == fallback,
            detail=f"similarity:{top:.3f}",
        )
    return apply_exclusions(result, context, fallback) if context else result
