"""The neural classifier with the real all-MiniLM-L6-v2: out of the box, cache, training, thresholds."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lf.errors import ConfigError, DataError
from lf_router_hybrid import KeywordClassifier, NeuralClassifier, default_experts

TOPICS = {
    "cooking": "Cooking and recipes: ingredients, baking, kitchen techniques.",
    "cars": "Cars and driving: engines, tyres, repairs, fuel.",
    "general": "Anything else.",
}
TRAIN = [
    ("how long do I bake a sponge cake", "cooking"),
    ("what can I use instead of butter in cookies", "cooking"),
    ("how do I thicken a tomato sauce", "cooking"),
    ("best way to season a steak", "cooking"),
    ("why is my bread dough not rising", "cooking"),
    ("how much salt goes into pasta water", "cooking"),
    ("my engine makes a knocking noise", "cars"),
    ("how often should tyres be rotated", "cars"),
    ("what does the check engine light mean", "cars"),
    ("how do I jump start a dead battery", "cars"),
    ("is diesel or petrol cheaper to run", "cars"),
    ("my brakes squeak when I stop", "cars"),
]
HELD_OUT = [
    ("how do I caramelize onions", "cooking"),
    ("what temperature should chicken be cooked to", "cooking"),
    ("my car will not start in the cold", "cars"),
    ("when should I change the timing belt", "cars"),
]
OUT_OF_SCOPE = [
    ("who won the chess world championship", "general"),
    ("what is the population of canada", "general"),
    ("recommend a podcast about history", "general"),
]


def test_encoder_equals_transformers_bert(embedder) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.BertModel.from_pretrained(str(embedder.path)).eval()
    texts = ["how do I reverse a linked list", "a much longer sentence about the weather in Paris today", "hi"]
    ours = embedder.forward(texts)
    for text, vec in zip(texts, ours, strict=True):
        ids = torch.tensor([embedder.tokenize([text])[0]])
        with torch.inference_mode():
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
        ref = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
        np.testing.assert_allclose(vec, ref, atol=2e-5)
    assert np.linalg.norm(ours, axis=1) == pytest.approx(1.0, abs=1e-5)
    # on CPU the float32 path runs prepacked linears on the same weight tensors (no second copy)
    inference = embedder._infer
    if torch.backends.mkldnn.is_available():
        assert inference is not embedder.model
        assert any(hasattr(m, "_lf_packed") for m in inference.modules())
        assert all(a is b for a, b in zip(inference.parameters(), embedder.model.parameters(), strict=True))


def test_everyday_questions_reach_the_right_expert_with_no_training(default_neural, everyday) -> None:  # type: ignore[no-untyped-def]
    from lf_router_hybrid import HybridClassifier

    queries = [q for q, _ in everyday]
    expected = [e for _, e in everyday]
    keyword = KeywordClassifier.from_experts(default_experts())
    hybrid = HybridClassifier(keyword, default_neural)
    hybrid.sync_experts(default_experts())
    accuracy = {}
    for name, clf in (("keyword", keyword), ("neural", default_neural), ("hybrid", hybrid)):
        results = clf.classify_batch(queries)
        accuracy[name] = sum(r.expert == e for r, e in zip(results, expected, strict=True)) / len(queries)
    print(f"everyday accuracy over {len(queries)} held-out questions: {accuracy}")
    assert accuracy["neural"] >= 0.9
    assert accuracy["hybrid"] >= 0.9
    assert accuracy["hybrid"] >= accuracy["keyword"]


def test_result_shape_cache_and_batch(default_neural) -> None:  # type: ignore[no-untyped-def]
    result = default_neural.classify("How do I reverse a string in JavaScript?")
    assert result.expert == "code" and result.method == "neural" and not result.fallback
    assert set(result.scores) == {"general", "code", "math", "writing"}
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert 0.5 < result.confidence <= 1.0 and result.detail.startswith("similarity:")
    hits = default_neural.embedder.hits
    again = default_neural.classify("How do I reverse a string in JavaScript?")
    assert default_neural.embedder.hits == hits + 1  # served from the cache
    assert again == result
    queries = ["Integrate x squared from 0 to 1", "Write a poem about rain", "What is the capital of Peru?"]
    batch = default_neural.classify_batch(queries)
    assert [r.expert for r in batch] == ["math", "writing", "general"]
    for single, one in zip(batch, [default_neural.classify(q) for q in queries], strict=True):
        assert single.expert == one.expert and single.confidence == pytest.approx(one.confidence, abs=1e-4)
    assert default_neural.classify("Write a poem", {"exclude": ["writing"]}).expert != "writing"


def test_threshold_sends_weak_matches_to_the_fallback(embedder) -> None:  # type: ignore[no-untyped-def]
    clf = NeuralClassifier(experts=TOPICS, embedder=embedder, threshold=0.99)
    result = clf.classify("how do I bake bread")
    assert result.expert == "general" and result.fallback and result.detail.startswith("below-threshold:cooking")
    clf.set_thresholds({"cooking": 0.0})
    assert clf.classify("how do I bake bread").expert == "cooking"
    assert clf.thresholds["cars"] == pytest.approx(0.99)


def test_train_fit_thresholds_and_save_state(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clf = NeuralClassifier(experts=TOPICS, embedder=embedder, k=3)
    before = clf.classify("my car will not start in the cold")
    stats = clf.train(TRAIN, epochs=2, train_layers=1)
    assert stats["loss"] > 0 and stats["seconds"] > 0
    assert clf.embedder is not embedder  # forked: the shared embedder keeps the original model
    assert "my brakes squeak when I stop" in clf.exemplars("cars")
    results = clf.classify_batch([q for q, _ in HELD_OUT])
    assert [r.expert for r in results] == [e for _, e in HELD_OUT]
    assert clf.classify("my car will not start in the cold").confidence >= before.confidence * 0.9
    report = clf.fit_thresholds(HELD_OUT + OUT_OF_SCOPE, max_loss=0.0)
    assert set(report.thresholds) == {"cooking", "cars"}
    assert report.in_scope == 4 and report.fallback_examples == 3
    assert report.in_scope_accuracy == 1.0 and report.fallback_recall is not None
    saved = clf.save_state(tmp_path / "state")
    fresh = NeuralClassifier(experts=TOPICS, embedder=embedder, k=3)
    fresh.load_state(saved)
    assert fresh.thresholds == pytest.approx(clf.thresholds)
    probe = ["how do I caramelize onions", "recommend a podcast about history", "when should I change the timing belt"]
    assert fresh.classify_batch(probe) == clf.classify_batch(probe)
    with pytest.raises(ConfigError, match="not a saved neural router state"):
        fresh.load_state(tmp_path)


NEGATIVES = [("what is the capital of mongolia", "general"), ("tell me a joke about penguins", "general")]


def test_out_of_scope_training_queries_make_the_abstain_score_a_margin_over_them(  # type: ignore[no-untyped-def]
    embedder, tmp_path: Path
) -> None:
    clf = NeuralClassifier(experts=TOPICS, embedder=embedder, k=3, fallback_expert="general")
    clf.train(TRAIN, epochs=0)
    plain = clf.expert_scores(clf.embedder.encode(["recommend a podcast about history"]))
    general = list(clf.thresholds).index("general")
    assert clf._state.relative_to == -1  # no out-of-scope exemplars: the score alone, as before
    clf.train(NEGATIVES, epochs=0)
    assert clf._state.relative_to == general
    clf.set_thresholds(0.0)
    scores = clf.expert_scores(clf.embedder.encode(["recommend a podcast about history"]))
    margin = scores.max() - scores[0, general]
    result = clf.classify("recommend a podcast about history")
    assert result.fallback and margin <= 0.0 < plain.max()  # closer to the negatives than to cooking or cars
    report = clf.fit_thresholds(HELD_OUT + OUT_OF_SCOPE, max_loss=0.0)
    assert report.in_scope_accuracy == 1.0 and report.fallback_recall == 1.0
    fresh = NeuralClassifier(experts=TOPICS, embedder=embedder, k=3, fallback_expert="general")
    fresh.load_state(clf.save_state(tmp_path / "state"))
    probe = [q for q, _ in HELD_OUT + OUT_OF_SCOPE]
    assert fresh._state.relative_to == general and fresh.classify_batch(probe) == clf.classify_batch(probe)
    clf.use_margin(False)
    assert clf._state.relative_to == -1


def test_train_without_epochs_only_adds_exemplars(embedder) -> None:  # type: ignore[no-untyped-def]
    clf = NeuralClassifier(experts=TOPICS, embedder=embedder)
    clf.train(TRAIN[:2], epochs=0)
    assert clf.embedder is embedder
    assert clf.exemplars("cooking")[1:] == [TRAIN[0][0], TRAIN[1][0]]
    with pytest.raises(DataError, match="not an expert"):
        clf.train([("what is love", "philosophy")], epochs=0)
    with pytest.raises(DataError, match="validation pairs"):
        clf.fit_thresholds([])


def test_experts_change_while_classifying(embedder) -> None:  # type: ignore[no-untyped-def]
    clf = NeuralClassifier(experts=TOPICS, embedder=embedder)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                assert clf.classify("how long do I bake a sponge cake").expert in {"cooking", "baking", "general"}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(5):
        clf.add_expert("baking", "Baking cakes and bread", examples=[f"cake question {i}"])
        clf.remove_expert("baking")
    stop.set()
    for t in threads:
        t.join()
    assert not errors


def test_a_model_that_is_not_a_directory_is_refused() -> None:
    with pytest.raises(ConfigError, match="no model hub"):
        NeuralClassifier(model_name="someone/some-model")


def test_int8_precision_stays_close_to_float32(embedder, everyday) -> None:  # type: ignore[no-untyped-def]
    from lf_router_hybrid.embedder import Embedder

    fast = Embedder(precision="int8", num_threads=1)
    texts = [q for q, _ in everyday]
    cosines = (embedder.forward(texts) * fast.forward(texts)).sum(axis=1)
    assert cosines.min() > 0.9 and cosines.mean() > 0.95
    clf = NeuralClassifier.from_experts(default_experts(), embedder=fast)
    results = clf.classify_batch(texts)
    accuracy = sum(r.expert == e for r, (_, e) in zip(results, everyday, strict=True)) / len(everyday)
    assert accuracy >= 0.85
    with pytest.raises(ConfigError, match="precision"):
        Embedder(precision="float8")
