r"""Keywords as the registry writes them, and regular-expression keywords that cannot block.

A keyword is ``word``, ``a phrase``, ``word^2`` (a weight) or ``/regex/`` (``/regex/^2``).
Regular expressions come from the registry, which any client of a router's ``POST /experts``
may write, and run on every query, inline on the router's event loop. A pattern such as
``/(a+)+$/`` backtracks exponentially: on 30 characters Python's ``re`` takes seconds, and
every extra character doubles it. So a keyword regex is

* compiled with the ``regex`` package (the syntax of ``re``, plus a per-search ``timeout=``);
  google-re2 would be linear-time by construction but drops backreferences and lookaround
  that existing keywords may use, and is not a dependency of this project;
* at most :data:`MAX_PATTERN_CHARS` characters long, with counted repetitions (``{m,n}``) of
  at most :data:`MAX_REPEAT` each and :data:`MAX_REPEAT_PRODUCT` all multiplied (compiling
  ``(?:(?:a{100}){100}){100}`` takes 0.4 s and 300 MB); checked when an expert is validated;
* run on at most the first :data:`MAX_SCAN_CHARS` characters of a query;
* stopped after a timeout: a search cut short counts as no match (see :class:`GuardedPattern`).

:func:`keyword_problem` is the check :class:`lf.experts.ExpertConfig` runs on every keyword,
so the CLI, the router's API and the registry file all refuse the same keywords. Only the
standard library is imported here; ``regex`` is imported on the first regex keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: The longest regular-expression keyword accepted (characters between the slashes).
MAX_PATTERN_CHARS = 256
#: A keyword regex scans at most this many characters of a query (its beginning).
MAX_SCAN_CHARS = 8192
#: The largest bound of one counted repetition ``{m,n}`` in a keyword regex.
MAX_REPEAT = 1000
#: The largest product of all counted-repetition bounds in a keyword regex.
MAX_REPEAT_PRODUCT = 10_000
#: Default limit of one regex search, in seconds.
DEFAULT_TIMEOUT_S = 0.05

_WEIGHT_RE = re.compile(r"^(?P<body>.*?)\^(?P<w>\d+(?:\.\d+)?)$")
_REPEAT_RE = re.compile(r"\{(\d+)(?:,(\d*))?\}")


@dataclass(frozen=True)
class Keyword:
    """One parsed keyword: its text, weight and whether it is a regular expression."""

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


def compile_pattern(pattern: str, *, case_sensitive: bool = False) -> Any:
    """Compile a keyword regex with the ``regex`` package; ValueError says what is wrong.

    The pattern is the text between the slashes. Checks its length against
    :data:`MAX_PATTERN_CHARS` and its syntax.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"keyword /{pattern[:40]}.../ is a regular expression of {len(pattern)} characters; "
            f"the limit is {MAX_PATTERN_CHARS}: split it into shorter keywords"
        )
    _check_repeats(pattern)
    import regex

    try:
        return regex.compile(pattern, 0 if case_sensitive else regex.IGNORECASE)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise ValueError(
            f"keyword /{pattern}/ is not a valid regular expression: {exc} "
            "(write a plain word, or escape special characters with a backslash)"
        ) from None


def _repeat_bounds(pattern: str) -> list[int]:
    """The bounds of the counted repetitions ``{m}``, ``{m,}``, ``{m,n}`` outside character classes."""
    bounds: list[int] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 2 if pattern[i + 1 : i + 2] == "]" else 1  # "[]...]": the first "]" is a member
            continue
        elif ch == "{":
            m = _REPEAT_RE.match(pattern, i)
            if m:
                bounds.append(max(int(n) for n in m.groups() if n))
                i = m.end()
                continue
        i += 1
    return bounds


def _check_repeats(pattern: str) -> None:
    product = 1
    for bound in _repeat_bounds(pattern):
        if bound > MAX_REPEAT:
            raise ValueError(
                f"keyword /{pattern}/ repeats {bound} times; a counted repetition {{m,n}} may be at most "
                f"{MAX_REPEAT}: use + or * instead"
            )
        product *= max(bound, 1)
    if product > MAX_REPEAT_PRODUCT:
        raise ValueError(
            f"keyword /{pattern}/ has counted repetitions {{m,n}} whose bounds multiply to {product}; "
            f"the limit is {MAX_REPEAT_PRODUCT}: use + or * instead of large counts"
        )


def keyword_problem(raw: str) -> str | None:
    """What is wrong with one keyword as written in the registry, or None when it is fine."""
    if not isinstance(raw, str):
        return f"keyword {raw!r} is not a string"
    kw = parse_keyword(raw)
    if not kw.regex:
        return None
    try:
        compile_pattern(kw.text)
    except ValueError as exc:
        return str(exc)
    return None


class GuardedPattern:
    """A compiled keyword regex whose searches are bounded in time and in text scanned.

    Args:
        pattern: the regex (the text between the slashes), at most :data:`MAX_PATTERN_CHARS`.
        case_sensitive: match case exactly (default: ignore case).
        max_scan_chars: only the first ``max_scan_chars`` characters of a text are searched.

    Raises ValueError (the message names the keyword) when the pattern is too long or invalid.
    """

    __slots__ = ("compiled", "max_scan_chars", "pattern")

    def __init__(self, pattern: str, *, case_sensitive: bool = False, max_scan_chars: int = MAX_SCAN_CHARS) -> None:
        self.pattern = pattern
        self.compiled = compile_pattern(pattern, case_sensitive=case_sensitive)
        self.max_scan_chars = max_scan_chars

    def search(self, text: str, timeout: float = DEFAULT_TIMEOUT_S) -> bool | None:
        """True on a match, False on none, None when the search ran past ``timeout`` seconds."""
        if timeout <= 0:
            return None
        try:
            return self.compiled.search(text[: self.max_scan_chars], timeout=timeout) is not None
        except TimeoutError:
            return None
