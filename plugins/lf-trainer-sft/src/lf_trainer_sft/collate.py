"""Batches of packed rows for attention kernels without variable-length support (sdpa, eager).

TRL's packing (best-fit decreasing) fills rows of ``max_length`` tokens with whole
examples, then its padding-free collator concatenates the batch's rows into ONE sequence
for flash-attention's variable-length kernels. Without those kernels (every CPU, and GPUs
without flash-attn) transformers turns that sequence into a dense block-diagonal mask over
``batch x max_length`` tokens: attention then costs ``(batch * max_length)^2`` instead of
``batch * max_length^2``, and packing ends up slower than padding.

:class:`PackedRowsCollator` keeps the rows apart: a ``(batch, longest row)`` tensor whose
``position_ids`` restart at every example and no ``attention_mask``, from which
transformers builds a causal mask that stays inside each example, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Attention implementations that read packed sequences' boundaries natively.
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3", "kernels-community/flash-attn", "flex_attention")


def needs_row_packing(model: Any) -> bool:
    """Whether the model's attention lacks variable-length kernels (so rows should stay apart)."""
    implementation = str(getattr(model.config, "_attn_implementation", "") or "")
    return not any(name in implementation for name in VARLEN_ATTENTION)


@dataclass
class PackedRowsCollator:
    """Collate packed rows (``input_ids``, ``labels``, ``seq_lengths``) without flattening them."""

    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """``input_ids``, ``labels`` and ``position_ids`` of shape (rows, longest row)."""
        import torch

        width = max(len(example["input_ids"]) for example in examples)
        shape = (len(examples), width)
        input_ids = torch.full(shape, self.pad_token_id, dtype=torch.long)
        labels = torch.full(shape, -100, dtype=torch.long)
        position_ids = torch.zeros(shape, dtype=torch.long)
        for row, example in enumerate(examples):
            ids = example["input_ids"]
            n = len(ids)
            input_ids[row, :n] = torch.as_tensor(ids)
            labels[row, :n] = torch.as_tensor(example.get("labels", ids))
            lengths = example.get("seq_lengths") or [n]
            position_ids[row, :n] = torch.cat([torch.arange(length) for length in lengths])
        # An example's first token would be predicted from the previous example's last one.
        labels[position_ids == 0] = -100
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}
