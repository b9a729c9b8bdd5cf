"""Sampling draws from the distribution it is given, and seeds make it repeatable."""

from __future__ import annotations

import torch

from lf_backend_hf import sampling
from lf_backend_hf.sampling import RowParams, inverse_cdf, sample


def test_inverse_cdf_follows_the_distribution_and_skips_impossible_tokens():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20_000, 1)
    draws = inverse_cdf(probs, torch.rand(20_000, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    counts = torch.bincount(draws, minlength=6).double() / 20_000
    assert counts[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(counts, probs[0].double(), atol=0.015, rtol=0)
    edges = inverse_cdf(probs[:2], torch.tensor([0.0, 1.0 - 2**-53], dtype=torch.float64))
    assert edges.tolist() == [1, 4]


def test_sample_mixes_greedy_seeded_and_top_k_rows():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(1))

    def rows(seed: int | None) -> list[RowParams]:
        return [
            RowParams(0.0, 1.0, 0, None, 0.0, 0.0, "cpu"),  # greedy
            RowParams(0.8, 1.0, 0, seed, 0.0, 0.0, "cpu"),
            RowParams(1.0, 1.0, 1, None, 0.0, 0.0, "cpu"),  # top_k=1 is greedy too
            RowParams(1.0, 0.9, 5, seed, 0.0, 0.0, "cpu"),
        ]

    first, second = sample(logits.clone(), rows(3)), sample(logits.clone(), rows(3))
    best = logits.argmax(-1).tolist()
    assert first[0] == best[0] and first[2] == best[2]
    assert first[1] == second[1] and first[3] == second[3]  # seeded rows repeat
    assert first[3] in logits[3].topk(5).indices.tolist()


def _sorted_reference(scores: torch.Tensor, top_k: list[int], top_p: list[float], uniform: torch.Tensor) -> list[int]:
    """Top-k and top-p over the whole vocabulary, sorted (what ``filtered_picks`` must equal)."""
    sorted_scores, order = scores.sort(dim=-1, descending=True)
    ranks = torch.arange(scores.shape[-1]).unsqueeze(0)
    sorted_scores = sorted_scores.masked_fill(ranks >= torch.tensor(top_k).unsqueeze(1), float("-inf"))
    probs = sorted_scores.softmax(dim=-1)
    beyond = (probs.cumsum(dim=-1) - probs) >= torch.tensor(top_p).unsqueeze(1)
    beyond[:, 0] = False
    picks = inverse_cdf(sorted_scores.masked_fill(beyond, float("-inf")).softmax(dim=-1), uniform)
    return order.gather(1, picks.unsqueeze(1)).squeeze(1).tolist()


def test_top_k_and_top_p_among_candidates_equal_a_sort_of_the_whole_vocabulary(monkeypatch):
    # few candidates, so that peaked rows stop early and flat ones need more, then everything
    monkeypatch.setattr(sampling, "CANDIDATES", (8, 64))
    generator = torch.Generator().manual_seed(3)
    top_k = [1000, 5, 1000, 40, 300, 1000, 1000, 2]
    top_p = [0.9, 1.0, 0.5, 0.95, 0.99, 0.999, 0.0, 0.7]
    for trial in range(40):
        scores = torch.randn(8, 1000, generator=generator) * (0.3 + trial / 4)
        scores = scores - scores.amax(dim=-1, keepdim=True)
        uniform = torch.rand(8, dtype=torch.float64, generator=generator)
        assert sampling.filtered_picks(scores, top_k, top_p, uniform).tolist() == _sorted_reference(
            scores, top_k, top_p, uniform
        )
