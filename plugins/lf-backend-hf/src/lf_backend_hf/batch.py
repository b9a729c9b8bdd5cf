"""The running batch: its rows, their KV cache, attention mask, next inputs and positions.

Rows are left-padded to a common length. New rows join by :meth:`RunningBatch.merge`
(their prefilled cache is appended, the shorter side padded in time); finished rows leave
by :meth:`RunningBatch.keep`, which also drops the leading columns nobody attends to.
"""

from __future__ import annotations

from typing import Any

import torch

from lf_backend_hf.kvcache import MERGEABLE_LAYERS
from lf_backend_hf.sequence import Sequence


def left_padded(prompts: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of ``prompts``, left-padded to the longest, on ``device``."""
    longest = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, longest - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


class RunningBatch:
    """The rows being decoded together (see the module docstring)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seqs: list[Sequence] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None
        self.next_ids: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.seqs)

    def clear(self) -> None:
        """Drop every row and the cache."""
        self.seqs, self.cache, self.mask, self.next_ids, self.positions = [], None, None, None, None

    def start(self, seqs: list[Sequence], cache: Any, mask: torch.Tensor, positions: torch.Tensor) -> None:
        """Make the just-prefilled ``seqs`` the whole batch."""
        self.seqs, self.cache, self.mask, self.positions, self.next_ids = list(seqs), cache, mask, positions, None

    def merge(self, new: list[Sequence], cache: Any, mask: torch.Tensor, positions: torch.Tensor) -> bool:
        """Append the new rows' cache to the running one; False when the cache cannot be merged."""
        old_layers, new_layers = self.cache.layers, cache.layers
        if any(type(layer) not in MERGEABLE_LAYERS for layer in (*old_layers, *new_layers)):
            return False
        assert self.mask is not None and self.positions is not None and self.next_ids is not None
        old_len, new_len = self.mask.shape[1], mask.shape[1]
        total = max(old_len, new_len)

        def pad(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
            """``t`` left-padded with zeros along ``dim`` from ``length`` to ``total``."""
            if length == total:
                return t
            shape = list(t.shape)
            shape[dim] = total - length
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for old, fresh in zip(old_layers, new_layers, strict=True):
            old.keys = torch.cat([pad(old.keys, old_len, 2), pad(fresh.keys, new_len, 2)], dim=0)
            old.values = torch.cat([pad(old.values, old_len, 2), pad(fresh.values, new_len, 2)], dim=0)
        self.mask = torch.cat([pad(self.mask, old_len, 1), pad(mask, new_len, 1)], dim=0)
        self.positions = torch.cat([self.positions, positions])
        self.seqs.extend(new)
        return True

    def set_next(self, rows: list[int], tokens: list[int]) -> None:
        """Record the tokens just chosen for ``rows``: the next step's inputs."""
        next_ids = self.next_ids
        if next_ids is None or len(next_ids) != len(self):
            merged = torch.zeros(len(self), dtype=torch.long, device=self.device)
            if next_ids is not None:
                merged[: len(next_ids)] = next_ids
            next_ids = merged
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        next_ids[index] = torch.tensor(tokens, dtype=torch.long, device=self.device)
        self.next_ids = next_ids

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows``; drop leading columns nobody attends to any more."""
        if len(rows) == len(self):
            return
        if not rows:
            self.clear()
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.seqs = [self.seqs[i] for i in rows]
        assert self.mask is not None and self.positions is not None and self.next_ids is not None
        self.mask = self.mask.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        self.next_ids = self.next_ids.index_select(0, index)
        used = self.mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        self.mask = self.mask[:, start:]
