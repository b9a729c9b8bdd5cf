"""Sampling draws from the distribution it is given, and seeds make it repeatable."""

from __future__ import annotations

import torch

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
