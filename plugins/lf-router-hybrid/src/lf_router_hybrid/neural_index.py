"""The exemplar index the neural classifier reads: k-nearest-exemplar scores and the routing decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lf_router_hybrid.base import apply_exclusions
from lf_router_hybrid.types import ClassificationResult


@dataclass
class ExemplarIndex:
    """An immutable snapshot that ``classify`` reads (swapped whole on every change)."""

    names: list[str]
    #: [start, end) rows of ``vectors`` for each expert, in ``names`` order
    segments: list[tuple[int, int]]
    vectors: np.ndarray
    thresholds: np.ndarray
    k: int


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


def decide(
    index: ExemplarIndex, row: np.ndarray, temperature: float, fallback: str, context: dict[str, Any] | None
) -> ClassificationResult:
    """The best-scoring expert of one query's ``row`` of scores, or ``fallback`` below its threshold."""
    best = int(row.argmax())
    z = (row - row[best]) / temperature
    probs = np.exp(z)
    probs /= probs.sum()
    scores = {n: float(p) for n, p in zip(index.names, probs, strict=True)}
    top = float(row[best])
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
