"""Perplexity: the sliding window scores every token once, and agrees with a direct computation."""

from __future__ import annotations

import math

import pytest

import lf_evaluate
from lf.errors import ConfigError, DataError, ModelNotFoundError
from lf.testing import check_plugin
from lf_evaluate.scoring import load_model, perplexity, perplexity_of, window_plan


def test_honours_the_lf_contract():
    # a command-only plugin: no components, and registering imports nothing heavy
    assert check_plugin(lf_evaluate) == []


@pytest.mark.parametrize(("n", "max_length", "stride"), [(10, 4, 2), (1000, 128, 64), (7, 16, 8), (100, 10, 10)])
def test_window_plan_scores_each_token_exactly_once(n, max_length, stride):
    plan = window_plan(n, max_length, stride)
    covered: list[int] = []
    for begin, end, scored in plan:
        assert 0 < end - begin <= max_length
        covered += list(range(end - scored, end))
    assert covered == list(range(n))
    assert plan[-1][1] == n


def _direct_nll(model, ids):
    import torch

    with torch.inference_mode():
        return float(model(ids, labels=ids).loss)


def test_one_window_equals_the_model_loss(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir, device="cpu")
    text = "The quick brown fox jumps over the lazy dog. Two plus two is four."
    ids = tokenizer(text, return_tensors="pt").input_ids
    ppl, nll, tokens, windows, _, _ = perplexity_of(model, tokenizer, [text], max_length=512)
    assert windows == 1
    assert tokens == ids.shape[1] - 1
    assert nll == pytest.approx(_direct_nll(model, ids), rel=1e-5)
    assert ppl == pytest.approx(math.exp(nll))


def test_non_overlapping_windows_equal_the_chunked_loss(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir, device="cpu")
    text = " ".join(["Paris is the capital of France. Water boils at 100 degrees."] * 12)
    ids = tokenizer(text, return_tensors="pt").input_ids
    n, size = ids.shape[1], 32
    _, nll, tokens, windows, _, _ = perplexity_of(model, tokenizer, [text], max_length=size, stride=size)
    # by hand: each chunk on its own predicts its tokens after the first
    total, count = 0.0, 0
    for begin in range(0, n, size):
        chunk = ids[:, begin : begin + size]
        if chunk.shape[1] >= 2:
            total += _direct_nll(model, chunk) * (chunk.shape[1] - 1)
            count += chunk.shape[1] - 1
    assert windows == math.ceil(n / size)
    assert tokens == count
    assert nll * tokens == pytest.approx(total, rel=1e-4)


def test_overlapping_windows_score_every_token_after_the_first(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir, device="cpu")
    text = " ".join(["Once upon a time there was a small model that learned to answer questions politely."] * 8)
    n = tokenizer(text, return_tensors="pt").input_ids.shape[1]
    _, _, tokens, windows, max_length, stride = perplexity_of(model, tokenizer, [text], max_length=64)
    assert (max_length, stride) == (64, 32)  # stride defaults to half the window
    assert tokens == n - 1
    assert windows == len(window_plan(n, 64, 32))


def test_a_random_model_is_about_as_perplexed_as_its_vocabulary(tiny_model_dir):
    result = perplexity(tiny_model_dir, device="cpu")  # the bundled held-out set
    vocab = 515
    assert 0.5 * vocab < result.perplexity < 1.5 * vocab
    assert result.texts > 10
    assert result.tokens > 1000
    assert result.data == "(bundled held-out set)"


def test_bad_input_is_explained(tiny_model_dir, tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        perplexity(tmp_path / "nope", ["hello world"])
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        perplexity(tmp_path, ["hello world"])
    with pytest.raises(DataError, match="No text"):
        perplexity(tiny_model_dir, ["   "])
    with pytest.raises(ConfigError, match="exceeds the model's context"):
        perplexity(tiny_model_dir, ["hello world"], max_length=4096, device="cpu")
    with pytest.raises(ConfigError, match="stride"):
        perplexity(tiny_model_dir, ["hello world"], max_length=16, stride=32, device="cpu")


def test_the_public_api_names_stay_functions_after_every_module_is_imported():
    """Other plugins import from ``lf_evaluate`` only; a submodule named like a function would shadow it."""
    import importlib
    import pkgutil

    import lf_evaluate

    for module in pkgutil.iter_modules(lf_evaluate.__path__):
        importlib.import_module(f"lf_evaluate.{module.name}")
    for name in lf_evaluate.__all__:
        value = getattr(lf_evaluate, name)
        assert not isinstance(value, type(lf_evaluate)), f"lf_evaluate.{name} is a module, not the public API"
    assert callable(lf_evaluate.perplexity) and callable(lf_evaluate.run_tasks)
