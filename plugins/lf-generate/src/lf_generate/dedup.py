"""De-duplication: exact (normalized text) and near-duplicates (MinHash + LSH; Python and numpy).

Texts are normalized (lower case, punctuation dropped, whitespace collapsed). Exact
duplicates are found by a hash of the normalized text. Near-duplicates: each text becomes
the set of its word 3-grams (its words when shorter); a MinHash signature of ``num_perm``
64-bit hashes estimates the Jaccard similarity of two sets; locality-sensitive hashing
(``bands`` x ``rows`` = ``num_perm``) finds the candidates, and a candidate whose
estimated similarity reaches the threshold is a near-duplicate. numpy computes the
signatures and compares a text with all its candidates at once, so near-identical
corpora (where every text is a candidate of every other) stay fast.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import defaultdict
from typing import Any

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_PRIME = (1 << 31) - 1  # a Mersenne prime


def normalize(text: str) -> str:
    """Lower case, punctuation and repeated whitespace removed."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def shingles(text: str, n: int = 3) -> set[str]:
    """Word ``n``-grams of the normalized text (its words when it has fewer than ``n``)."""
    words = normalize(text).split()
    if len(words) < n:
        return set(words)
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _hash32(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=4).digest(), "little")


class MinHasher:
    """MinHash signatures with ``num_perm`` universal hash functions ``(a*h + b) mod (2^31 - 1)`` (seeded).

    ``h`` (a hash of each item), ``a`` and ``b`` are below the prime 2^31 - 1, so every
    product fits in 64 bits and numpy computes all ``num_perm`` minima of a set at once,
    exactly. (``a`` must range over the whole field: with small multipliers the functions
    barely permute and the estimates come out far too high.)
    """

    def __init__(self, num_perm: int = 64, seed: int = 1) -> None:
        import numpy as np

        rng = random.Random(seed)
        self.num_perm = num_perm
        self._a = np.array([rng.randrange(1, _PRIME) for _ in range(num_perm)], dtype=np.uint64)
        self._b = np.array([rng.randrange(0, _PRIME) for _ in range(num_perm)], dtype=np.uint64)

    def signature(self, items: set[str]) -> Any:
        """The signature of a set, a ``uint64`` array (all-max for the empty set)."""
        import numpy as np

        if not items:
            return np.full(self.num_perm, _PRIME, dtype=np.uint64)
        hashes = np.fromiter((_hash32(s) % _PRIME for s in items), dtype=np.uint64, count=len(items))
        return ((hashes[:, None] * self._a[None, :] + self._b[None, :]) % np.uint64(_PRIME)).min(axis=0)


def estimated_jaccard(a: Any, b: Any) -> float:
    """The share of equal signature positions: an unbiased estimate of the Jaccard similarity."""
    return float((a == b).mean())


def jaccard(a: set[str], b: set[str]) -> float:
    """The exact Jaccard similarity of two sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class Deduplicator:
    """Remembers kept texts; :meth:`check` says whether a new one duplicates one of them.

    Args:
        exact: drop texts whose normalized form was seen.
        threshold: drop texts whose estimated Jaccard similarity to a kept one is at least
            this (None: no near-duplicate check).
        num_perm: signature length, cut into LSH bands of 4 rows (2 below a threshold of
            0.7, so that pairs just above a low threshold still meet in some band).
    """

    def __init__(self, *, exact: bool = True, threshold: float | None = 0.85, num_perm: int = 64) -> None:
        import numpy as np

        self.exact = exact
        self.threshold = threshold
        self.hasher = MinHasher(num_perm)
        self.rows = 2 if threshold is not None and threshold < 0.7 else 4
        self.bands = num_perm // self.rows
        self._need = 0 if threshold is None else math.ceil(threshold * num_perm - 1e-9)
        self._seen: set[str] = set()
        self._buckets: list[dict[bytes, list[int]]] = [defaultdict(list) for _ in range(self.bands)]
        self._signatures = np.zeros((64, num_perm), dtype=np.uint64)
        self._count = 0

    def check(self, text: str) -> str | None:
        """``"exact"`` or ``"near"`` for a duplicate, else None (the text is then remembered)."""
        norm = normalize(text)
        digest = hashlib.sha1(norm.encode("utf-8")).hexdigest()
        if self.exact and digest in self._seen:
            return "exact"
        signature = None
        if self.threshold is not None:
            signature = self.hasher.signature(shingles(text))
            if self._near(signature):
                return "near"
        self._remember(digest, signature)
        return None

    def add(self, text: str) -> None:
        """Remember a kept text without checking it (rebuilding the index on resume)."""
        digest = hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()
        signature = self.hasher.signature(shingles(text)) if self.threshold is not None else None
        self._remember(digest, signature)

    def _keys(self, signature: Any) -> list[bytes]:
        return [signature[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]

    def _near(self, signature: Any) -> bool:
        import numpy as np

        candidates: set[int] = set()
        for bucket, key in zip(self._buckets, self._keys(signature), strict=True):
            candidates.update(bucket.get(key, ()))
        if not candidates:
            return False
        rows = self._signatures[np.fromiter(candidates, dtype=np.int64, count=len(candidates))]
        return bool(((rows == signature).sum(axis=1) >= self._need).any())

    def _remember(self, digest: str, signature: Any) -> None:
        import numpy as np

        self._seen.add(digest)
        if signature is None:
            return
        if self._count == len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.zeros_like(self._signatures)])
        index = self._count
        self._signatures[index] = signature
        self._count += 1
        for bucket, key in zip(self._buckets, self._keys(signature), strict=True):
            bucket[key].append(index)
