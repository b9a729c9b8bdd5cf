"""The in-place KV cache and the lf_sdpa attention give the same logits as transformers' own."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache

from lf_backend_hf.kvcache import HEADROOM, GrowableLayer, growable_cache

STEPS = HEADROOM * 2 + 10  # enough decode steps to outgrow the first buffer twice


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def _decode(model, cache, prompt: torch.Tensor, steps: int, trim_at: int | None = None) -> list[torch.Tensor]:
    """Greedy decoding from ``prompt`` (batch, time); optionally keep only row 0 after ``trim_at`` steps."""
    logits = []
    with torch.inference_mode():
        out = model(input_ids=prompt, past_key_values=cache, use_cache=True)
        position = prompt.shape[1]
        for step in range(steps):
            if step == trim_at:
                for layer in cache.layers:  # what the engine does when a row finishes
                    layer.keys = layer.keys.index_select(0, torch.tensor([0]))
                    layer.values = layer.values.index_select(0, torch.tensor([0]))
                out.logits = out.logits[:1]
            next_ids = out.logits[:, -1].argmax(-1, keepdim=True)
            logits.append(out.logits[:, -1].clone())
            positions = torch.full_like(next_ids, position)
            out = model(input_ids=next_ids, position_ids=positions, past_key_values=cache, use_cache=True)
            position += 1
    return logits


def test_growable_cache_matches_dynamic_cache(model):
    prompt = torch.randint(5, 200, (3, 7), generator=torch.Generator().manual_seed(0))
    expected = _decode(model, DynamicCache(config=model.config), prompt, STEPS)
    cache = growable_cache(model.config)
    got = _decode(model, cache, prompt, STEPS)
    assert all(isinstance(layer, GrowableLayer) for layer in cache.layers)
    assert cache.get_seq_length() == 7 + STEPS
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-5)


def test_assigned_rows_are_adopted_and_decoding_goes_on(model):
    prompt = torch.randint(5, 200, (2, 5), generator=torch.Generator().manual_seed(1))
    expected = _decode(model, DynamicCache(config=model.config), prompt, 80, trim_at=30)
    got = _decode(model, growable_cache(model.config), prompt, 80, trim_at=30)
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-5)


def test_append_refuses_a_shape_that_does_not_fit():
    layer = GrowableLayer()
    layer.update(torch.zeros(2, 3, 4, 8), torch.zeros(2, 3, 4, 8))
    assert layer.keys is not None and layer.keys.shape == (2, 3, 4, 8)
    with pytest.raises(ValueError, match="cannot append"):
        layer.update(torch.zeros(1, 3, 1, 8), torch.zeros(1, 3, 1, 8))


def test_lf_sdpa_equals_sdpa_on_padded_grouped_batches(tiny_model_dir):
    from lf_backend_hf.attention import register

    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    ours = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=register()).eval()
    assert ours.config.num_attention_heads > ours.config.num_key_value_heads  # grouped-query attention
    ids = torch.randint(5, 200, (3, 9), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding, as the engine batches rows of different lengths
    mask[2, :2] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        want = reference(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        got = ours(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], rtol=1e-4, atol=1e-5)
