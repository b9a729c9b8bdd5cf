"""The regex classifier honours the contract and routes."""

from __future__ import annotations

import lf_classifier_regex
import pytest
from lf_classifier_regex.classifier import RegexClassifier

from lf.errors import ConfigError
from lf.experts import ExpertConfig
from lf.testing import check_plugin, isolated_registry


def test_contract():
    assert [s.name for s in check_plugin(lf_classifier_regex)] == ["regex"]


@pytest.fixture
def clf():
    with isolated_registry(lf_classifier_regex) as registry:
        cls = registry.get("route", "regex").load()
    c = cls(fallback_expert="general")
    c.add_expert("general", "Anything")
    c.add_expert("code", "Programming", keywords=[r"\bdef\b", r"python", r"traceback|stack trace"])
    c.add_expert("math", "Arithmetic", keywords=[r"\d+\s*[-+*/]\s*\d+", r"\bintegral\b"])
    return c


def test_routes_by_matches_and_falls_back(clf):
    assert clf.classify("My Python traceback says KeyError").expert == "code"
    assert clf.classify("What is 12 * 7?").expert == "math"
    result = clf.classify("Tell me a story")
    assert result.expert == "general" and result.fallback and result.method == "regex"
    assert clf.classify("python", context={"exclude": ["code"]}).expert == "general"
    assert [r.expert for r in clf.classify_batch(["def f(): pass", "3 + 4"])] == ["code", "math"]


def test_built_from_the_expert_registry_entries():
    experts = [
        ExpertConfig(name="general", description="Anything"),
        ExpertConfig(name="sql", description="Databases", keywords=[r"\bselect\b.*\bfrom\b"]),
    ]
    clf = RegexClassifier.from_experts(experts)
    assert clf.classify("SELECT name FROM users").expert == "sql"


def test_a_bad_pattern_is_a_config_error():
    clf = RegexClassifier()
    with pytest.raises(ConfigError, match="invalid regular expression"):
        clf.add_expert("broken", "x", keywords=["(unclosed"])
