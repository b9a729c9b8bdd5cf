"""De-duplication: exact (normalized text) and near-duplicates (MinHash + LSH, pure Python).

Texts are normalized (lower case, punctuation dropped, whitespace collapsed). Exact
duplicates are found by a hash of the normalized text. Near-duplicates: each text becomes
the set of its word 3-grams (its words when shorter); a MinHash signature of ``num_perm``
64-bit hashes estimates the Jaccard similarity of two sets; locality-sensitive hashing
(``bands`` x ``rows`` = ``num_perm``) finds the candidates, and a candidate whose
estimated similarity reaches the threshold is a near-duplicate.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_MERSENNE = (1 << 61) - 1
_MAX_HASH = (1 << 32) - 1


def normalize(text: str) -> str:
    """Lower case, punctuation and repeated whitespace removed."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def shingles(text: str, n: int = 3) -> set[str]:
    """Word ``n``-grams of the normalized text (its words when it has fewer than ``n``)."""
    words = normalize(text).split()
    if len(words) < n:
        return set(words)
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _hash64(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "little")


class MinHasher:
    """MinHash signatures with ``num_perm`` universal hash permutations (seeded: reproducible)."""

    def __init__(self, num_perm: int = 64, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.num_perm = num_perm
        self.params = [(rng.randrange(1, _MERSENNE), rng.randrange(0, _MERSENNE)) for _ in range(num_perm)]

    def signature(self, items: set[str]) -> tuple[int, ...]:
        """The signature of a set (all-max for the empty set)."""
        if not items:
            return (_MAX_HASH,) * self.num_perm
        hashes = [_hash64(s) for s in items]
        return tuple(min(((a * h + b) % _MERSENNE) & _MAX_HASH for h in hashes) for a, b in self.params)


def estimated_jaccard(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """The share of equal signature positions: an unbiased estimate of the Jaccard similarity."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


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
        self.exact = exact
        self.threshold = threshold
        self.hasher = MinHasher(num_perm)
        self.rows = 2 if threshold is not None and threshold < 0.7 else 4
        bands = num_perm // self.rows
        self._seen: set[str] = set()
        self._buckets: list[dict[tuple[int, ...], list[int]]] = [defaultdict(list) for _ in range(bands)]
        self._signatures: list[tuple[int, ...]] = []

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

    def _near(self, signature: tuple[int, ...]) -> bool:
        assert self.threshold is not None
        candidates: set[int] = set()
        for band, bucket in enumerate(self._buckets):
            candidates.update(bucket.get(signature[band * self.rows : (band + 1) * self.rows], ()))
        return any(estimated_jaccard(signature, self._signatures[i]) >= self.threshold for i in candidates)

    def _remember(self, digest: str, signature: tuple[int, ...] | None) -> None:
        self._seen.add(digest)
        if signature is None:
            return
        index = len(self._signatures)
        self._signatures.append(signature)
        for band, bucket in enumerate(self._buckets):
            bucket[signature[band * self.rows : (band + 1) * self.rows]].append(index)
