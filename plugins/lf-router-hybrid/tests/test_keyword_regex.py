"""Regex keywords cannot block: time limits, a scan cap, a length cap, one warning per pattern."""

from __future__ import annotations

import logging

import pytest

from lf.errors import ConfigError
from lf.experts.keywords import MAX_PATTERN_CHARS, GuardedPattern, keyword_problem
from lf_router_hybrid import KeywordClassifier

EVIL = "/(a+)+$/"  # exponential backtracking: seconds at 30 characters with Python's re
EVIL_QUERY = "a" * 5000 + "!"


def test_a_catastrophic_pattern_returns_no_match_and_ticks_the_counter(caplog: pytest.LogCaptureFixture) -> None:
    clf = KeywordClassifier({"code": [EVIL, "python"], "general": ["hello"]})
    assert clf.regex_timeouts == 0
    with caplog.at_level(logging.WARNING, logger="lf_router_hybrid.keyword"):
        result = clf.classify(EVIL_QUERY)  # returns (pytest-timeout guards against a hang)
        again = clf.classify(EVIL_QUERY + "a")
    assert result.fallback and result.expert == "general"
    assert again.fallback
    assert clf.regex_timeouts == 2  # the guard fired on both searches
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one warning per pattern, not per query
    message = warnings[0].getMessage()
    assert "(a+)+$" in message and "'code'" in message
    assert "aaaa" not in message  # never the query
    # the other keywords still work, and the pattern matches where it is cheap
    assert clf.classify("python please").expert == "code"
    assert clf.classify("aaa").expert == "code"
    assert clf.regex_timeouts == 2


def test_the_query_budget_bounds_all_patterns_together(caplog: pytest.LogCaptureFixture) -> None:
    clf = KeywordClassifier(
        {"a": [EVIL], "b": ["/(a|aa)+$/"], "c": ["/(a*)*$/"], "general": ["hello"]},
        regex_timeout_s=0.05,
        regex_budget_s=0.05,
    )
    with caplog.at_level(logging.WARNING, logger="lf_router_hybrid.keyword"):
        assert clf.classify(EVIL_QUERY).fallback
    # the first search spent the budget: the other two were skipped, and all three counted
    assert clf.regex_timeouts == 3
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 3


def test_regexes_scan_only_the_beginning_of_a_long_query() -> None:
    clf = KeywordClassifier({"code": [r"/\bneedle\b/"], "general": ["hello"]}, regex_scan_chars=100)
    assert clf.classify("x " * 10 + "needle").expert == "code"
    assert clf.classify("x " * 60 + "needle").fallback  # past the first 100 characters
    default = KeywordClassifier({"code": [r"/\bneedle\b/"], "general": ["hello"]})
    assert default.classify("x " * 60 + "needle").expert == "code"
    assert default.classify("x " * 5000 + "needle").fallback  # past MAX_SCAN_CHARS (8192)
    assert default.regex_timeouts == 0


def test_regex_keywords_still_match_as_before() -> None:
    clf = KeywordClassifier({"code": [r"/\bdef\s+\w+\(/^2", "python"], "math": [r"/\d+\s*[-+*/]\s*\d+/"]})
    assert clf.classify("def main(): pass").expert == "code"
    assert clf.classify("DEF Main(x)").expert == "code"  # case-insensitive by default
    assert clf.classify("what is 12 * 7").expert == "math"
    assert clf.raw_scores("def f( and 1+1") == [2.0, 1.0]
    strict = KeywordClassifier({"code": [r"/\bdef\b/"], "general": ["hello"]}, case_sensitive=True)
    assert strict.classify("DEF").fallback and strict.classify("def").expert == "code"


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("/([/", "not a valid regular expression"),
        ("/" + "a" * (MAX_PATTERN_CHARS + 1) + "/", f"the limit is {MAX_PATTERN_CHARS}"),
        ("/a{5000}/", "at most 1000"),
        ("/(?:(?:a{100}){100}){100}/", "multiply to 1000000"),
    ],
)
def test_invalid_or_oversized_patterns_are_refused(keyword: str, message: str) -> None:
    problem = keyword_problem(keyword)
    assert problem is not None and message in problem
    with pytest.raises(ConfigError, match="Expert 'bad'") as info:
        KeywordClassifier({"bad": [keyword]})
    assert message in info.value.message


def test_counted_repetitions_are_measured_outside_classes_and_escapes() -> None:
    assert keyword_problem(r"/\d{4}-\d{2}-\d{2}/") is None
    assert keyword_problem(r"/[{]5000}/") is None  # a literal brace in a class, then text
    assert keyword_problem(r"/\{5000}/") is None  # an escaped brace
    assert keyword_problem(r"/a{2,}/") is None
    assert keyword_problem(r"/\\{5000}/") is not None  # an escaped backslash, then a repetition
    assert keyword_problem("python^2") is None and keyword_problem("/x/^3") is None


def test_guarded_pattern_reports_a_timeout_as_none() -> None:
    pattern = GuardedPattern("(a+)+$")
    assert pattern.search("aaa") is True
    assert pattern.search("bbb") is False
    assert pattern.search(EVIL_QUERY, timeout=0.01) is None
    assert pattern.search("aaa", timeout=0) is None  # no time left: not searched


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="regex_timeout_s"):
        KeywordClassifier(regex_timeout_s=0)
