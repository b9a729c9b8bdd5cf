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
the number of keywords. Regular expressions run one by one (keep them few), guarded
(:mod:`lf.experts.keywords`): each search scans at most the query's first 8192 characters
and stops after ``regex_timeout_s``, all of a query's searches together after
``regex_budget_s``. A search stopped early counts as no match, ticks
:attr:`KeywordClassifier.regex_timeouts` and logs one warning per pattern (never the query),
so a pattern such as ``/(a+)+$/`` cannot stall the router's event loop.

Each expert scores the summed weight of its distinct keywords found in the query. The
confidence combines the evidence (``1 - exp(-score / evidence_scale)``), the matched share
(the winner's part of all matched weight) and the margin over the runner-up. No match at
all sends the query to the fallback expert with confidence 0.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lf.errors import ConfigError
from lf.experts.keywords import DEFAULT_TIMEOUT_S, MAX_SCAN_CHARS, GuardedPattern, Keyword, parse_keyword
from lf.kinds import BaseClassifier, ClassificationResult, ExpertInfo, ExpertSource, apply_exclusions

if TYPE_CHECKING:
    from lf_router_hybrid.config import KeywordConfig

#: A word: letters/digits/underscore, with a trailing ``+``/``#`` kept (c++, c#, f#).
TOKEN_RE = re.compile(r"\w+[+#]*")
__all__ = ["Keyword", "KeywordClassifier", "mine_keywords", "parse_keyword"]

log = logging.getLogger("lf_router_hybrid.keyword")


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
    patterns: list[tuple[GuardedPattern, int, float, int]]
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
        regex_timeout_s: the longest one regex keyword may search a query; a search cut
            short counts as no match.
        regex_budget_s: the longest all regex keywords together may search one query; once
            spent, the remaining patterns are skipped (and counted as timed out).
        regex_scan_chars: regexes search only the first ``regex_scan_chars`` characters.

    Attributes:
        regex_timeouts: regex searches stopped by the time limits since the classifier was
            made (a growing counter, for metrics and tests).
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
        regex_timeout_s: float = DEFAULT_TIMEOUT_S,
        regex_budget_s: float = 2 * DEFAULT_TIMEOUT_S,
        regex_scan_chars: int = MAX_SCAN_CHARS,
    ) -> None:
        super().__init__(fallback_expert=fallback_expert)
        if regex_timeout_s <= 0 or regex_budget_s <= 0 or regex_scan_chars < 1:
            raise ConfigError("regex_timeout_s and regex_budget_s must be > 0 and regex_scan_chars >= 1.")
        self.case_sensitive = case_sensitive
        self.plurals = plurals
        self.evidence_scale = evidence_scale
        self.regex_timeout_s = regex_timeout_s
        self.regex_budget_s = regex_budget_s
        self.regex_scan_chars = regex_scan_chars
        self.regex_timeouts = 0
        self._timeout_lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
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

    @property
    def has_regex(self) -> bool:
        """Whether some expert has a regex keyword (classification may then take up to ``regex_budget_s``)."""
        index = getattr(self, "_index", None)
        return bool(index is not None and index.patterns)

    def _rebuild(self, experts: dict[str, ExpertInfo], added: list[ExpertInfo], removed: list[str]) -> None:
        names = list(experts)
        terms: dict[str, list[tuple[int, float, int]]] = {}
        starts: dict[str, int] = {}
        patterns: list[tuple[GuardedPattern, int, float, int]] = []
        kid = 0
        for name in removed:
            self._learned.pop(name, None)
        for e_idx, name in enumerate(names):
            for raw in dict.fromkeys([*experts[name].keywords, *self._learned.get(name, [])]):
                kw = parse_keyword(raw)
                kid += 1
                if kw.regex:
                    patterns.append((self._compile(name, kw), e_idx, kw.weight, kid))
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

    def _compile(self, expert: str, kw: Keyword) -> GuardedPattern:
        try:
            return GuardedPattern(kw.text, case_sensitive=self.case_sensitive, max_scan_chars=self.regex_scan_chars)
        except ValueError as exc:
            raise ConfigError(
                f"Expert '{expert}': {exc}", hint="Fix the keyword in the expert registry (`lf expert add --replace`)."
            ) from None

    def raw_scores(self, query: str) -> list[float]:
        """Matched keyword weight per expert (in ``list_experts()`` order)."""
        return self._scores(self._index, query)

    def _scores(self, idx: _Index, query: str) -> list[float]:
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
        if idx.patterns:
            self._pattern_scores(idx, query, scores)
        return scores

    def _pattern_scores(self, idx: _Index, query: str, scores: list[float]) -> None:
        """Add the weights of the regex keywords ``query`` matches, within the time limits."""
        deadline = time.monotonic() + self.regex_budget_s
        for pattern, e_idx, weight, _kid in idx.patterns:
            left = deadline - time.monotonic()
            found = pattern.search(query, min(self.regex_timeout_s, left))
            if found:
                scores[e_idx] += weight
            elif found is None:
                self._timed_out(idx.names[e_idx], pattern.pattern, spent=left <= self.regex_timeout_s)

    def _timed_out(self, expert: str, pattern: str, *, spent: bool) -> None:
        """Count a search the limits stopped; warn once per pattern (never with the query)."""
        with self._timeout_lock:
            self.regex_timeouts += 1
            first = (expert, pattern) not in self._warned
            self._warned.add((expert, pattern))
        if first:
            limit = f"the query's regex budget of {self.regex_budget_s:g} s" if spent else f"{self.regex_timeout_s:g} s"
            log.warning(
                "keyword regex /%s/ of expert '%s' was stopped after %s and counted as no match; "
                "it may backtrack catastrophically: simplify it (e.g. no nested quantifiers like (a+)+)",
                pattern,
                expert,
                limit,
            )

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
        min_precision: float = 0.8,
    ) -> dict[str, list[str]]:
        """Learn keywords from labelled ``(query, expert)`` pairs (see :func:`mine_keywords`).

        They are added to the experts' own keywords (experts named in ``exclude``, e.g. the
        fallback, get none). ``epochs`` is accepted for API symmetry; mining is one pass.
        Returns the keywords learned per expert.
        """
        mined = mine_keywords(training_data, per_expert=per_expert, exclude=exclude, min_precision=min_precision)
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
