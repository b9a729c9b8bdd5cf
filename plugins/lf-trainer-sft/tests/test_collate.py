"""Packed rows stay apart and each example sees only itself (sdpa / eager attention)."""

from __future__ import annotations

from pathlib import Path

import torch

from lf_trainer_sft.collate import PackedRowsCollator, needs_row_packing


def test_rows_keep_their_shape_and_positions_restart_per_example() -> None:
    rows = [
        {"input_ids": [5, 6, 7, 8, 9], "labels": [5, 6, 7, 8, 9], "seq_lengths": [2, 3]},
        {"input_ids": [10, 11, 12], "labels": [-100, 11, 12], "seq_lengths": [3]},
    ]
    batch = PackedRowsCollator(pad_token_id=0)(rows)
    assert "attention_mask" not in batch
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9], [10, 11, 12, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 0, 1, 2], [0, 1, 2, 0, 0]]
    # first token of every example, and padding, are never targets
    assert batch["labels"].tolist() == [[-100, 6, -100, 8, 9], [-100, 11, 12, -100, -100]]


def test_an_example_packed_with_others_gets_the_logits_it_gets_alone(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    assert needs_row_packing(model)
    first, second, third = [3, 14, 15, 92, 65], [35, 89, 79], [32, 38, 46, 26]
    batch = PackedRowsCollator(pad_token_id=0)(
        [
            {"input_ids": first + second, "seq_lengths": [5, 3]},
            {"input_ids": third, "seq_lengths": [4]},
        ]
    )
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        alone = [model(input_ids=torch.tensor([ids])).logits[0] for ids in (first, second, third)]
    torch.testing.assert_close(packed[0, :5], alone[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed[0, 5:8], alone[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed[1, :4], alone[2], atol=1e-4, rtol=1e-4)
