"""The regex classifier honours the contract, routes, and its options change the decision."""

from __future__ import annotations

import lf_classifier_regex
import pytest
from lf_classifier_regex import RegexOptions
from lf_classifier_regex.classifier import RegexClassifier

from lf.errors import ConfigError
from lf.experts import ExpertConfig
from lf.testing import check_plugin

EXPERTS = [
    ExpertConfig(name="general", description="Anything"),
    ExpertConfig(name="code", description="Programming", keywords=[r"\bdef\b", r"python", r"traceback|stack trace"]),
    ExpertConfig(name="math", description="Arithmetic", keywords=[r"\d+\s*[-+*/]\s*\d+", r"\bintegral\b"]),
]


def test_contract():
    assert [s.name for s in check_plugin(lf_classifier_regex)] == ["regex"]


@pytest.fixture
def clf():
    return RegexClassifier.from_config(None, EXPERTS, fallback_expert="general")


def test_routes_by_matches_and_falls_back(clf):
    assert clf.classify("My Python traceback says KeyError").expert == "code"
    assert clf.classify("What is 12 * 7?").expert == "math"
    result = clf.classify("Tell me a story")
    assert result.expert == "general" and result.fallback and result.method == "regex"
    assert clf.classify("python", context={"exclude": ["code"]}).expert == "general"
    assert [r.expert for r in clf.classify_batch(["def f(): pass", "3 + 4"])] == ["code", "math"]


def test_options_change_the_decision():
    strict = RegexClassifier.from_config(RegexOptions(min_matches=2), EXPERTS, fallback_expert="general")
    assert strict.classify("python").expert == "general"  # one pattern is not enough
    assert strict.classify("My Python traceback").expert == "code"
    cased = RegexClassifier.from_config(RegexOptions(case_sensitive=True), EXPERTS, fallback_expert="general")
    assert cased.classify("PYTHON").expert == "general"


def test_follows_registry_changes(clf):
    clf.sync_experts([*EXPERTS, ExpertConfig(name="sql", description="Databases", keywords=[r"\bselect\b.*\bfrom\b"])])
    assert clf.classify("SELECT name FROM users").expert == "sql"


def test_a_bad_pattern_is_a_config_error(clf):
    with pytest.raises(ConfigError, match="invalid regular expression"):
        clf.add_expert("broken", "x", keywords=["(unclosed"])
