r"""``KeywordClassifier``: words, phrases, weights and regular expressions (SRS 3.4.2).

A keyword is written as in the registry file:

* ``python`` - a word, matched case-insensitively as a whole word (plural forms too:
  ``bug`` matches ``bugs``, ``story`` matches ``stories``);
* ``stack trace`` - a phrase: the words in order;
* ``python^2`` - a weight (default 1);
* ``/\bdef\s+\w+\(/`` - a regular expression (``/.../^2`` to weigh it).

Matching is a dictionary scan, not a loop over keywords: the query is split into words
once, and every word (and, where a phrase starts with it, the following words) is looked
up in one table built when experts change. Cost grows with the query's length, not with
the number of keywords. Regular expressions run one by one (keep them few).

Each expert scores the summed weight of its distinct keywords found in the query. The
confidence combines the evidence (``1 - exp(-score / evidence_scale)``), the matched share
(the winner's part of all matched weight) and the margin over the runner-up. No match at
all sends the query to the fallback expert with confidence 0.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lf.errors import ConfigError
from lf_router_hybrid.base import BaseClassifier, ExpertSource, apply_exclusions
from lf_router_hybrid.types import ClassificationResult, ExpertInfo

if TYPE_CHECKING:
    from lf_router_hybrid.config import KeywordConfig

#: A word: letters/digits/underscore, with a trailing ``+``/``#`` kept (c++, c#, f#).
TOKEN_RE = re.compile(r"\w+[+#]*")
_WEIGHT_RE = re.compile(r"^(?P<body>.*?)\^(?P<w>\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Keyword:
    """One parsed keyword."""

    text: str
    weight: float = 1.0
    regex: bool = False


def parse_keyword(raw: str) -> Keyword:
    """``"python^2"`` -> Keyword("python", 2.0); ``"/a+b/"`` -> a regular expression."""
    text = raw.strip()
    weight = 1.0
    m = _WEIGHT_RE.match(text)
    if m and m.group("body"):
        text, weight = m.group("body").strip(), float(m.group("w"))
    if len(text) > 2 and text.startswith("/") and text.endswith("/"):
        return Keyword(text[1:-1], weight, regex=True)
    return Keyword(text, weight)


def _inflections(word: str) -> list[str]:
    """Plural forms of an alphabetic word (cheap, English-only): bug -> bugs; story -> stories."""
    if not word.isalpha() or len(word) < 3:
        return []
    forms = [word + "s", word + "es"]
    if word.endswith("y") and word[-2] not in "aeiou":
        forms.append(word[:-1] + "ies")
    return forms


@dataclass
class _Index:
    names: list[str]
    priorities: list[int]
    #: term ("word" or "two words") -> [(expert index, weight, keyword id)]
    terms: dict[str, list[tuple[int, float, int]]]
    #: first word of a phrase -> the longest phrase length starting with it
    phrase_starts: dict[str, int]
    patterns: list[tuple[re.Pattern[str], int, float, int]]
    case_sensitive: bool


class KeywordClassifier(BaseClassifier):
    r"""Route by keywords, phrases and patterns; microseconds per query.

    Args:
        experts: ``{"code": ["python", "bug^2", "/\bdef\b/"], ...}`` (optional; or use
            ``add_expert`` / ``from_experts``).
        case_sensitive: match case exactly (default: ignore case).
        plurals: also match plural forms of single words.
        evidence_scale: matched weight that gives 63% evidence (1 - 1/e).
        fallback_expert: where unmatched queries go (default ``general``).
    """

    method = "keyword"

    def __init__(
        self,
        experts: dict[str, Sequence[str]] | None = None,
        case_sensitive: bool = False,
        *,
        plurals: bool = True,
        evidence_scale: float = 1.0,
        fallback_expert: str | None = None,
    ) -> None:
        super().__init__(fallback_expert=fallback_expert)
        self.case_sensitive = case_sensitive
        self.plurals = plurals
        self.evidence_scale = evidence_scale
        self._index = _Index([], [], {}, {}, [], case_sensitive)
        #: keywords learned by train(), kept apart from the registry's (which sync_experts replaces)
        self._learned: dict[str, list[str]] = {}
        if experts:
            self._update([ExpertInfo(name=n, keywords=tuple(k)) for n, k in experts.items()], [])

    @classmethod
    def from_config(
        cls, config: KeywordConfig | None, experts: ExpertSource, *, fallback_expert: str | None = None
    ) -> KeywordClassifier:
        """How the router builds it (:class:`lf.kinds.Classifier`): its options and the enabled experts."""
        from lf_router_hybrid.config import KeywordConfig

        options = config or KeywordConfig()
        return cls.from_experts(
            experts,
            case_sensitive=options.case_sensitive,
            plurals=options.plurals,
            evidence_scale=options.evidence_scale,
            fallback_expert=fallback_expert,
        )

    def _rebuild(self, experts: dict[str, ExpertInfo], added: list[ExpertInfo], removed: list[str]) -> None:
        names = list(experts)
        terms: dict[str, list[tuple[int, float, int]]] = {}
        starts: dict[str, int] = {}
        patterns: list[tuple[re.Pattern[str], int, float, int]] = []
        kid = 0
        flags = 0 if self.case_sensitive else re.IGNORECASE
        for name in removed:
            self._learned.pop(name, None)
        for e_idx, name in enumerate(names):
            for raw in dict.fromkeys([*experts[name].keywords, *self._learned.get(name, [])]):
                kw = parse_keyword(raw)
                kid += 1
                if kw.regex:
                    try:
                        patterns.append((re.compile(kw.text, flags), e_idx, kw.weight, kid))
                    except re.error as exc:
                        raise ConfigError(
                            f"Expert '{name}': keyword /{kw.text}/ is not a valid regular expression: {exc}"
                        ) from None
                    continue
                words = TOKEN_RE.findall(kw.text if self.case_sensitive else kw.text.lower())
                if not words:
                    continue
                variants = [words]
                if self.plurals:
                    variants += [[*words[:-1], form] for form in _inflections(words[-1])]
                for variant in variants:
                    key = " ".join(variant)
                    entries = terms.setdefault(key, [])
                    if not any(e == e_idx for e, _, _ in entries):
                        entries.append((e_idx, kw.weight, kid))
                    if len(variant) > 1:
                        starts[variant[0]] = max(starts.get(variant[0], 1), len(variant))
        self._index = _Index(names, [experts[n].priority for n in names], terms, starts, patterns, self.case_sensitive)

    def raw_scores(self, query: str) -> list[float]:
        """Matched keyword weight per expert (in ``list_experts()`` order)."""
        return self._scores(self._index, query)

    @staticmethod
    def _scores(idx: _Index, query: str) -> list[float]:
        scores = [0.0] * len(idx.names)
        words = TOKEN_RE.findall(query if idx.case_sensitive else query.lower())
        terms = idx.terms
        starts = idx.phrase_starts
        seen: set[int] = set()
        for i, word in enumerate(words):
            hits = terms.get(word)
            if hits is not None:
                for e_idx, weight, kid in hits:
                    if kid not in seen:
                        seen.add(kid)
                        scores[e_idx] += weight
            longest = starts.get(word)
            if longest is not None:
                for n in range(2, longest + 1):
                    if i + n > len(words):
                        break
                    hits = terms.get(" ".join(words[i : i + n]))
                    if hits is not None:
                        for e_idx, weight, kid in hits:
                            if kid not in seen:
                                seen.add(kid)
                                scores[e_idx] += weight
        for pattern, e_idx, weight, _kid in idx.patterns:
            if pattern.search(query):
                scores[e_idx] += weight
        return scores

    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """The expert whose keywords the query matches best (the fallback if none match)."""
        idx = self._index
        if not idx.names:
            return self._empty()
        scores = self._scores(idx, query)
        total = sum(scores)
        if total <= 0:
            result = ClassificationResult(
                expert=self.fallback_expert,
                confidence=0.0,
                scores=dict.fromkeys(idx.names, 0.0),
                method="keyword",
                fallback=True,
                detail="no-match",
            )
        else:
            best = max(range(len(scores)), key=lambda i: (scores[i], idx.priorities[i], -i))
            top = scores[best]
            second = max((s for i, s in enumerate(scores) if i != best), default=0.0)
            evidence = 1.0 - math.exp(-top / self.evidence_scale)
            share = top / total
            margin = (top - second) / top
            result = ClassificationResult(
                expert=idx.names[best],
                confidence=evidence * (share + margin) / 2,
                scores={n: s / total for n, s in zip(idx.names, scores, strict=True)},
                method="keyword",
                fallback=False,
                detail="match" if margin > 0 else "tie",
            )
        return apply_exclusions(result, context, self.fallback_expert) if context else result

    def train(
        self,
        training_data: Iterable[tuple[str, str]],
        epochs: int = 1,
        *,
        per_expert: int = 50,
        exclude: Iterable[str] = (),
    ) -> dict[str, list[str]]:
        """Learn keywords from labelled ``(query, expert)`` pairs (see :func:`mine_keywords`).

        They are added to the experts' own keywords (experts named in ``exclude``, e.g. the
        fallback, get none). ``epochs`` is accepted for API symmetry; mining is one pass.
        Returns the keywords learned per expert.
        """
        mined = mine_keywords(training_data, per_expert=per_expert, exclude=exclude)
        mined = {name: words for name, words in mined.items() if name in self._experts}
        with self._lock:
            self._learned.update(mined)
            self._rebuild(self._experts, [], [])
        return mined


def mine_keywords(
    pairs: Iterable[tuple[str, str]],
    *,
    per_expert: int = 50,
    min_count: int = 3,
    min_precision: float = 0.8,
    max_ngram: int = 2,
    exclude: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Words and two-word phrases that point to one expert in labelled data.

    A term qualifies when it occurs in at least ``min_count`` queries and at least
    ``min_precision`` of those belong to one expert; each expert keeps its
    ``per_expert`` terms ranked by ``count x precision``. Experts named in ``exclude``
    (e.g. the fallback) get no keywords but still count against precision.
    """
    by_term: dict[str, Counter[str]] = {}
    for query, expert in pairs:
        words = TOKEN_RE.findall(query.lower())
        terms = set(words)
        if max_ngram >= 2:
            terms.update(" ".join(words[i : i + 2]) for i in range(len(words) - 1))
        for term in terms:
            by_term.setdefault(term, Counter())[expert] += 1
    skip = set(exclude)
    ranked: dict[str, list[tuple[float, str]]] = {}
    for term, counts in by_term.items():
        total = sum(counts.values())
        if total < min_count:
            continue
        expert, n = counts.most_common(1)[0]
        precision = n / total
        if precision >= min_precision and expert not in skip:
            ranked.setdefault(expert, []).append((n * precision, term))
    out: dict[str, list[str]] = {}
    for expert, items in ranked.items():
        items.sort(key=lambda x: (-x[0], x[1]))
        chosen: list[str] = []
        for _, term in items:
            if " " in term and all(w in chosen for w in term.split()):
                continue  # both words are keywords already: the phrase adds nothing
            chosen.append(term)
            if len(chosen) == per_expert:
                break
        out[expert] = chosen
    return out
