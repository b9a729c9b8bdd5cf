"""Choosing the next token of every row of a batch at once (greedy, temperature, top-k/p, seeds)."""

from __future__ import annotations

from typing import Any

import torch


class RowParams:
    """One row's sampling options."""

    __slots__ = ("frequency_penalty", "generator", "presence_penalty", "temperature", "top_k", "top_p")

    def __init__(
        self,
        temperature: float,
        top_p: float,
        top_k: int,
        seed: int | None,
        presence_penalty: float,
        frequency_penalty: float,
        device: Any,
    ) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.presence_penalty = presence_penalty
        self.frequency_penalty = frequency_penalty
        self.generator: torch.Generator | None = None
        if seed is not None and temperature > 0:
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(seed)


def apply_penalties(logits: torch.Tensor, rows: list[RowParams], history: list[list[int]]) -> torch.Tensor:
    """OpenAI-style presence/frequency penalties for the rows that ask for them.

    Returns ``logits`` itself when no row has a penalty, else a penalized copy: ``logits``
    is never changed, so a failed batch can be sampled again row by row.
    """
    out = logits
    for i, row in enumerate(rows):
        if (row.presence_penalty or row.frequency_penalty) and history[i]:
            if out is logits:
                out = logits.clone()
            ids = torch.tensor(history[i], device=logits.device)
            counts = torch.bincount(ids, minlength=logits.shape[-1]).to(logits.dtype)
            out[i] -= row.frequency_penalty * counts + row.presence_penalty * (counts > 0).to(logits.dtype)
    return out


def sample(logits: torch.Tensor, rows: list[RowParams]) -> list[int]:
    """The next token id of each row; ``logits`` is ``[rows, vocab]`` (float)."""
    chosen = logits.argmax(dim=-1)
    sampled = [i for i, r in enumerate(rows) if r.temperature > 0]
    if not sampled:
        return [int(t) for t in chosen.tolist()]
    index = torch.tensor(sampled, device=logits.device)
    temps = torch.tensor([rows[i].temperature for i in sampled], device=logits.device, dtype=logits.dtype)
    scores = logits.index_select(0, index).float() / temps.unsqueeze(1)
    order: torch.Tensor | None = None
    if any(rows[i].top_k > 0 or rows[i].top_p < 1.0 for i in sampled):
        scores, order = scores.sort(dim=-1, descending=True)
        ranks = torch.arange(scores.shape[-1], device=scores.device).unsqueeze(0)
        top_k = torch.tensor([rows[i].top_k if rows[i].top_k > 0 else scores.shape[-1] for i in sampled])
        scores = scores.masked_fill(ranks >= top_k.to(scores.device).unsqueeze(1), float("-inf"))
        top_p = torch.tensor([rows[i].top_p for i in sampled], device=scores.device)
        cumulative = scores.softmax(dim=-1).cumsum(dim=-1)
        beyond = (cumulative - scores.softmax(dim=-1)) >= top_p.unsqueeze(1)
        scores = scores.masked_fill(beyond, float("-inf"))
    probs = scores.softmax(dim=-1)
    uniform = torch.rand(len(sampled), dtype=torch.float64, device=logits.device)
    for j, i in enumerate(sampled):
        generator = rows[i].generator
        if generator is not None:
            uniform[j] = torch.rand(1, dtype=torch.float64, generator=generator, device=logits.device)[0]
    picks = inverse_cdf(probs, uniform)
    if order is not None:
        picks = order.gather(1, picks.unsqueeze(1)).squeeze(1)
    chosen[index] = picks
    return [int(t) for t in chosen.tolist()]


def inverse_cdf(probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """One draw per row of ``probs`` (``[rows, vocab]``) from uniforms in ``[0, 1)``: exact categorical sampling.

    ``torch.multinomial`` draws a random number per vocabulary entry: 55 ms for 32 rows of
    a 49k vocabulary on one CPU thread, a fifth of a decode step. A cumulative sum and a
    binary search per row take under 2 ms. ``right=True`` never lands on a zero-probability
    token (a -inf logit): its cumulative value equals its predecessor's.
    """
    cdf = probs.to(torch.float64).cumsum(dim=-1)
    targets = (uniform * cdf[:, -1]).unsqueeze(1)
    return torch.searchsorted(cdf, targets, right=True).squeeze(1).clamp_(max=probs.shape[-1] - 1)
