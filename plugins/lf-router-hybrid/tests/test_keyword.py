"""The keyword classifier: words, phrases, plurals, weights, regexes, confidence, mining, threads."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import lf_router_hybrid
from lf.errors import ConfigError, ModelNotFoundError
from lf.experts import ExpertConfig, ExpertManager
from lf.testing import check_plugin
from lf_router_hybrid import KeywordClassifier, mine_keywords
from lf_router_hybrid.keyword import parse_keyword


def test_contract() -> None:
    specs = check_plugin(lf_router_hybrid)
    assert sorted(s.name for s in specs) == ["hybrid", "keyword", "neural"]
    assert {s.kind for s in specs} == {"route"}


def test_importing_the_package_is_cheap() -> None:
    code = (
        "import sys, lf_router_hybrid\n"
        "heavy = [m for m in ('torch', 'numpy', 'yaml', 'lf_router_hybrid.neural', 'lf_router_hybrid.keyword') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from lf_router_hybrid import KeywordClassifier\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        lf_router_hybrid.NoSuchThing  # noqa: B018


def test_parse_keyword() -> None:
    assert parse_keyword("python") == parse_keyword(" python ")
    kw = parse_keyword("stack trace^2.5")
    assert (kw.text, kw.weight, kw.regex) == ("stack trace", 2.5, False)
    kw = parse_keyword(r"/\bdef\s+\w+/^3")
    assert (kw.text, kw.weight, kw.regex) == (r"\bdef\s+\w+", 3.0, True)
    assert parse_keyword("c++").text == "c++"


@pytest.fixture
def clf() -> KeywordClassifier:
    return KeywordClassifier(
        {
            "code": ["python", "bug^2", "stack trace", "c++", r"/\bdef\s+\w+\(/"],
            "math": ["integral", "solve", r"/\d+\s*[-+*/]\s*\d+/^2"],
            "writing": ["write", "story", "poem"],
            "general": ["recipe"],
        }
    )


def test_words_phrases_plurals_case_and_regex(clf: KeywordClassifier) -> None:
    assert clf.classify("Why does PYTHON crash?").expert == "code"
    assert clf.classify("I got a stack trace").expert == "code"
    assert clf.classify("a stack of traces").fallback  # a phrase needs its words in order
    assert clf.classify("three bugs in my loop").expert == "code"  # plural
    assert clf.classify("stories for kids").expert == "writing"  # story -> stories
    assert clf.classify("is c++ hard").expert == "code"
    assert clf.classify("def main(): pass").expert == "code"  # regex
    assert clf.classify("what is 12 * 7").expert == "math"  # regex
    assert clf.classify("pythonic ideas").fallback  # whole words only


def test_no_match_goes_to_the_fallback_with_zero_confidence(clf: KeywordClassifier) -> None:
    result = clf.classify("hello there")
    assert result.expert == "general" and result.fallback and result.confidence == 0.0
    assert result.method == "keyword" and result.detail == "no-match"
    assert set(result.scores) == {"code", "math", "writing", "general"}


def test_confidence_grows_with_evidence_and_margin(clf: KeywordClassifier) -> None:
    one = clf.classify("python please")
    two = clf.classify("python bug")  # 1 + 2
    contested = clf.classify("write a python script")  # code 1 vs writing 1
    assert 0 < one.confidence < two.confidence <= 1
    assert contested.confidence < one.confidence
    assert two.scores["code"] == pytest.approx(1.0)
    assert contested.scores["code"] == pytest.approx(0.5)
    assert sum(contested.scores.values()) == pytest.approx(1.0)
    assert contested.alternatives(1)[0][1] == pytest.approx(0.5)


def test_repeated_keywords_count_once(clf: KeywordClassifier) -> None:
    stuffed = clf.classify("python python python python, write")
    assert stuffed.scores["code"] == pytest.approx(0.5)


def test_weights_decide(clf: KeywordClassifier) -> None:
    assert clf.classify("write about a bug").expert == "code"  # bug^2 beats write


def test_case_sensitive() -> None:
    clf = KeywordClassifier({"code": ["Go"], "general": ["go"]}, case_sensitive=True)
    assert clf.classify("I write Go").expert == "code"
    assert clf.classify("let us go").expert == "general"


def test_ties_go_to_priority() -> None:
    clf = KeywordClassifier()
    clf.add_expert("a", keywords=["shared"])
    clf.add_expert("b", keywords=["shared"], priority=5)
    result = clf.classify("shared words")
    assert result.expert == "b" and result.detail == "tie"


def test_add_remove_list(clf: KeywordClassifier) -> None:
    clf.add_expert("legal", "Contracts and law", ["contract", "lawsuit"])
    assert clf.classify("review this contract").expert == "legal"
    assert "legal" in [e.name for e in clf.list_experts()]
    clf.remove_expert("legal")
    assert clf.classify("review this contract").fallback
    with pytest.raises(ModelNotFoundError):
        clf.remove_expert("legal")
    with pytest.raises(ConfigError, match="regular expression"):
        clf.add_expert("broken", keywords=["/(unclosed/"])


def test_exclude_context_moves_to_the_next_expert(clf: KeywordClassifier) -> None:
    result = clf.classify("write a python script", {"exclude": ["code"]})
    assert result.expert == "writing" and "excluded:code" in result.detail
    result = clf.classify("python", {"exclude": ["code"]})
    assert result.expert == "general" and result.fallback


def test_from_experts_uses_enabled_experts_and_syncs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    manager = ExpertManager(tmp_path / "e.yaml")
    manager.register_expert(ExpertConfig(name="code", keywords=["python"]))
    manager.register_expert(ExpertConfig(name="math", keywords=["integral"], enabled=False))
    clf = KeywordClassifier.from_experts(manager)
    assert [e.name for e in clf.list_experts()] == ["code"]
    other = ExpertManager(tmp_path / "e.yaml")  # another process
    other.update_expert("math", enabled=True)
    assert manager.refresh_if_changed()
    assert clf.sync_experts(manager) is True
    assert clf.classify("an integral").expert == "math"
    assert clf.sync_experts(manager) is False


def test_mine_keywords() -> None:
    pairs = [(f"my python code has bug {i}", "code") for i in range(6)]
    pairs += [(f"solve the integral {i}", "math") for i in range(6)]
    pairs += [("my cat is cute", "general"), ("my day was long", "general"), ("my python", "general")]
    mined = mine_keywords(pairs, per_expert=5, exclude=["general"])
    assert "general" not in mined
    assert "bug" in mined["code"] and "integral" in mined["math"]
    assert "my" not in mined["code"]  # shared with general: not precise
    assert "python" in mine_keywords(pairs, exclude=["general"])["code"]  # 6 of its 7 queries: precision 0.86
    assert "python" not in mine_keywords(pairs, exclude=["general"], min_precision=0.95)["code"]
    clf = KeywordClassifier(fallback_expert="general")
    clf.add_expert("code")
    clf.add_expert("math")
    clf.add_expert("general")
    learned = clf.train(pairs, exclude=["general"])
    assert learned["math"]
    assert clf.classify("integral please").expert == "math"
    clf.sync_experts([ExpertConfig(name="code"), ExpertConfig(name="math"), ExpertConfig(name="general")])
    assert clf.classify("integral please").expert == "math"  # learned keywords survive a sync


def test_classification_is_thread_safe_while_experts_change(clf: KeywordClassifier) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                result = clf.classify("python bug in my integral")
                assert result.expert in {"code", "math", "general"}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        clf.add_expert(f"x{i % 5}", keywords=[f"word{i}"])
        if i % 7 == 0:
            clf.remove_expert(f"x{i % 5}")
    stop.set()
    for t in threads:
        t.join()
    assert not errors


def test_batch_matches_single(clf: KeywordClassifier) -> None:
    queries = ["python bug", "solve 2 + 2", "a poem", "nothing here"]
    assert clf.classify_batch(queries) == [clf.classify(q) for q in queries]


def test_from_config_builtin() -> None:
    from lf_router_hybrid import KeywordConfig, default_experts

    clf = KeywordClassifier.from_config(KeywordConfig(), default_experts())
    assert {e.name for e in clf.list_experts()} == {"general", "code", "math", "writing"}
    assert clf.classify("Why does my Python script throw a KeyError?").expert == "code"
    strict = KeywordClassifier.from_config(KeywordConfig(plurals=False), default_experts(), fallback_expert="math")
    assert strict.plurals is False and strict.fallback_expert == "math"
