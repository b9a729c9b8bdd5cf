"""A judge model: scores one response 1-10 against a rubric, or picks the better of two.

The prompts ask for the verdict first in a fixed shape ("Score: N", "Verdict: A"), and the
parsers accept what models actually write: "8/10", "**Score:** 7", "I would rate it 6 out
of 10", "Rating - nine", "Response B is better", a bare leading number or letter. A score
outside 1-10, or an answer with no verdict, parses to None: the caller counts it and
leaves that response (or pair) unscored instead of guessing.
"""

from __future__ import annotations

import re
from typing import Any, Literal

Verdict = Literal["A", "B", "tie"]

JUDGE_SYSTEM = "You are a strict and fair judge of AI assistant responses. Follow the output format exactly."

SCORE_TEMPLATE = """{rubric}

[User request]
{prompt}

[Response]
{response}

Reply with the score first, exactly as "Score: N" where N is a whole number from 1 to 10, \
then one short sentence of reasons."""

PAIR_TEMPLATE = """{rubric}

[User request]
{prompt}

[Response A]
{a}

[Response B]
{b}

Which response is better? Reply first with exactly "Verdict: A", "Verdict: B" or "Verdict: tie", \
then one short sentence of reasons. The order of the responses says nothing about their quality."""

PAIR_RUBRIC = (
    "Compare two responses to the same user request. The better response is more helpful, correct, "
    "complete and clear; length alone is not a merit."
)

_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_NUM = r"\b(\d+(?:[.,]\d+)?|" + "|".join(_WORDS) + r")\b"
_NOT_RANGE = r"(?!\s*(?:[-–]|to)\s*\d)"
_SCORE_PATTERNS = [
    re.compile(r"\bscore\b[^\n\d]{0,12}?" + _NUM + _NOT_RANGE, re.IGNORECASE),
    re.compile(_NUM + r"\s*(?:/|out of)\s*10\b", re.IGNORECASE),
    re.compile(r"\b(?:rate|rating|rated|give|grade)\b[^\n\d]{0,30}?" + _NUM + _NOT_RANGE, re.IGNORECASE),
    re.compile(r"^[\s*_#\[(]*" + _NUM + r"[\s*_\])]*(?:$|[.!:,\n])", re.IGNORECASE),
]
# Letters are matched in upper case only ("a" is an article); the words around them in any case.
_VERDICT_PATTERNS: list[re.Pattern[str]] = [
    re.compile(r"(?i:verdict)[\s*_:=\-–—]*\[*\s*(?:(?i:response)\s+)?\b(A|B|(?i:tie))\b"),
    re.compile(
        r"(?i:response|assistant|answer|option)\s*\[?\b(A|B)\b\]?\s+(?i:is|was)\s+"
        r"(?i:clearly\s+|much\s+)?(?i:the\s+)?(?i:better|best|superior|preferred|stronger)"
    ),
    re.compile(r"(?i:prefer|choose|pick)\s+(?:(?i:response)\s+)?\b(A|B)\b"),
    re.compile(r"(?i)\b(tie|equally (?:good|bad|helpful)|both (?:are )?(?:equally )?(?:good|bad|fine))\b"),
    re.compile(r"^[\s*_#\[(]*(A|B)[\s*_\])]*(?:$|[.!:,\n])"),
]


def _number(token: str) -> float | None:
    token = token.lower().replace(",", ".")
    if token in _WORDS:
        return float(_WORDS[token])
    try:
        return float(token)
    except ValueError:
        return None


def parse_score(text: str) -> float | None:
    """The 1-10 score in a judge's answer, or None when there is none (or it is out of range)."""
    for pattern in _SCORE_PATTERNS:
        for match in pattern.finditer(text):
            value = _number(match.group(1))
            if value is not None and 1.0 <= value <= 10.0:
                return value
    return None


def parse_verdict(text: str) -> Verdict | None:
    """``"A"``, ``"B"`` or ``"tie"`` from a pairwise judge's answer, or None."""
    for pattern in _VERDICT_PATTERNS:
        match = pattern.search(text)
        if match:
            word = match.group(1)
            if word.upper() in ("A", "B"):
                return "A" if word.upper() == "A" else "B"
            return "tie"
    return None


def score_messages(rubric: str, prompt: str, response: str) -> list[dict[str, Any]]:
    """The conversation asking a judge to score ``response``."""
    text = SCORE_TEMPLATE.format(rubric=rubric.strip(), prompt=prompt, response=response)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}]


def pair_messages(rubric: str, prompt: str, a: str, b: str) -> list[dict[str, Any]]:
    """The conversation asking a judge which of two responses is better."""
    text = PAIR_TEMPLATE.format(rubric=rubric.strip(), prompt=prompt, a=a, b=b)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}]


def combine_orderings(first: Verdict | None, second_swapped: Verdict | None) -> Verdict | None:
    """One verdict about (A, B) from two judgments: A-then-B, and B-then-A (whose letters are swapped back).

    The same winner in both orders wins; disagreeing orders (position bias) are a tie; one
    unparsed judgment leaves the other; none leaves None.
    """
    second: Verdict | None = None
    if second_swapped is not None:
        second = {"A": "B", "B": "A", "tie": "tie"}[second_swapped]  # type: ignore[assignment]
    if first is None:
        return second
    if second is None:
        return first
    return first if first == second else "tie"
