"""The hybrid classifier: keyword fast path, weighted combination, disagreement, abstention."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lf.errors import ConfigError
from lf.experts import ExpertConfig, ExpertManager
from lf_router_hybrid import HybridClassifier, HybridConfig, KeywordClassifier, NeuralClassifier, default_experts


@pytest.fixture
def hybrid(embedder) -> HybridClassifier:  # type: ignore[no-untyped-def]
    experts = default_experts()
    return HybridClassifier.from_experts(
        experts,
        keyword_classifier=KeywordClassifier(),
        neural_classifier=NeuralClassifier(embedder=embedder),
    )


def test_confident_keywords_skip_the_neural_pass(hybrid: HybridClassifier) -> None:
    misses = hybrid.neural.embedder.misses
    hits = hybrid.neural.embedder.hits
    result = hybrid.classify("Python traceback: KeyError in my pandas code")
    assert result.expert == "code" and result.method == "hybrid" and result.detail == "fast-path"
    assert result.confidence >= hybrid.keyword_threshold
    assert (hybrid.neural.embedder.misses, hybrid.neural.embedder.hits) == (misses, hits)


def test_no_keyword_means_the_neural_answer(hybrid: HybridClassifier) -> None:
    query = "What are the health benefits of green tea?"
    assert hybrid.keyword.classify(query).fallback  # no keyword at all
    result = hybrid.classify(query)
    neural = hybrid.neural.classify(query)
    assert result.detail.startswith("neural:") and result.expert == neural.expert == "general"
    assert result.confidence == neural.confidence


def test_combination_and_disagreement(hybrid: HybridClassifier, caplog: pytest.LogCaptureFixture) -> None:
    # "essay" is a writing keyword, but the question is about statistics.
    query = "What is the standard deviation of the scores in my essay grading spreadsheet?"
    kw = hybrid.keyword.classify(query)
    nn = hybrid.neural.classify(query)
    with caplog.at_level(logging.DEBUG, logger="lf_router_hybrid"):
        result = hybrid.classify(query)
    assert kw.confidence < hybrid.keyword_threshold  # not the fast path
    combined = {
        n: hybrid.keyword_weight * kw.scores.get(n, 0) + hybrid.neural_weight * nn.scores.get(n, 0) for n in nn.scores
    }
    assert result.expert == max(combined, key=lambda n: combined[n])
    if kw.expert != nn.expert:
        assert result.detail.startswith("disagreement:")
        assert result.confidence == pytest.approx(combined[result.expert] * (1 - hybrid.disagreement_penalty))
        assert "router disagreement" in caplog.text
        assert hybrid.disagreements >= 1
    else:
        assert result.detail == "combined"
        assert result.confidence == pytest.approx(combined[result.expert])


def test_agreement_keeps_full_confidence(hybrid: HybridClassifier) -> None:
    query = "Can you solve this equation for me please"
    result = hybrid.classify(query)
    assert result.expert == "math" and result.detail in ("combined", "fast-path")
    assert not result.detail.startswith("disagreement")


def test_neural_abstention_wins_over_weak_keywords(embedder) -> None:  # type: ignore[no-untyped-def]
    neural = NeuralClassifier(embedder=embedder, threshold=0.99)
    hybrid = HybridClassifier.from_experts(default_experts(), neural_classifier=neural)
    result = hybrid.classify("write something nice")  # one weak keyword: below the fast-path threshold
    assert result.expert == "general" and result.fallback and result.detail.startswith("neural-abstained")


def test_batch_equals_single(hybrid: HybridClassifier) -> None:
    queries = ["Fix this Python bug in my function", "Write me a haiku", "Who invented the telephone?", "12 * 7"]
    batch = hybrid.classify_batch(queries)
    singles = [hybrid.classify(q) for q in queries]
    assert [r.expert for r in batch] == [r.expert for r in singles]
    assert [r.detail for r in batch] == [r.detail for r in singles]
    excluded = hybrid.classify_batch(queries[:1], [{"exclude": ["code"]}])[0]
    assert excluded.expert != "code"


def test_add_remove_and_sync_reach_both_classifiers(hybrid: HybridClassifier, tmp_path: Path) -> None:
    hybrid.add_expert(
        "legal", "Contracts, law and lawsuits", ["contract", "lawsuit"], examples=["Can I sue my landlord?"]
    )
    assert "legal" in [e.name for e in hybrid.keyword.list_experts()]
    assert "legal" in [e.name for e in hybrid.neural.list_experts()]
    assert hybrid.classify("Is this contract clause legal in a lawsuit?").expert == "legal"
    hybrid.remove_expert("legal")
    assert "legal" not in [e.name for e in hybrid.list_experts()]
    manager = ExpertManager(tmp_path / "e.yaml", experts=default_experts())
    manager.unregister_expert("writing")
    assert hybrid.sync_experts(manager)
    assert {e.name for e in hybrid.neural.list_experts()} == {"general", "code", "math"}
    assert hybrid.classify("Write a poem about the sea").expert != "writing"


def test_from_config(tmp_path: Path) -> None:
    path = tmp_path / "experts.yaml"
    manager = ExpertManager(path)
    manager.register_expert(ExpertConfig(name="general", description="Anything"))
    manager.register_expert(ExpertConfig(name="code", description="Programming", keywords=["python^2", "bug^2"]))
    config = HybridConfig(keyword_threshold=0.5)
    config.neural.num_threads = 1
    hybrid = HybridClassifier.from_config(config, manager, fallback_expert="general")
    assert hybrid.keyword_threshold == 0.5
    assert {e.name for e in hybrid.list_experts()} == {"general", "code"}
    assert hybrid.classify("python bug").detail == "fast-path"
    with pytest.raises(ConfigError, match="not both 0"):
        HybridClassifier(KeywordClassifier(), hybrid.neural, keyword_weight=0, neural_weight=0)


def test_train_mines_only_keywords_as_precise_as_the_neural_classifier(embedder) -> None:  # type: ignore[no-untyped-def]
    # a confident keyword answers without the neural classifier: the hybrid mines at KEYWORD_PRECISION (0.95)
    from lf_router_hybrid.hybrid import KEYWORD_PRECISION

    pairs = [(f"my python code has bug {i}", "code") for i in range(6)] + [("my python", "general")]
    hybrid = HybridClassifier.from_experts(
        [ExpertConfig(name="code"), ExpertConfig(name="general")],
        keyword_classifier=KeywordClassifier(),
        neural_classifier=NeuralClassifier(embedder=embedder),
        fallback_expert="general",
    )
    hybrid.train(pairs, epochs=0)
    assert KEYWORD_PRECISION == 0.95
    assert hybrid.keyword.classify("a bug").expert == "code"
    assert hybrid.keyword.classify("python").fallback  # 6/7 = 0.86: a keyword for KeywordClassifier, not here
