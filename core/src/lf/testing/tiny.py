"""Tiny real models for tests: a few-layer Llama-style causal LM plus a tokenizer, offline.

The tokenizer is a byte-level BPE trained in milliseconds with ``tokenizers`` on a small
built-in corpus (any text encodes, nothing is unknown) and carries a ChatML chat template
like SmolLM2's. Both are saved in Hugging Face format, so every loader treats the
directory like a downloaded model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = """
The quick brown fox jumps over the lazy dog. A language model predicts the next token.
Write a Python function that sorts a list. def sort_list(items): return sorted(items)
What is two plus two? Two plus two is four. Solve for x: 2x + 3 = 7, so x = 2.
Please summarize this article in three sentences. Translate hello into French: bonjour.
You are a helpful assistant. The user asks a question and the assistant answers it.
Paris is the capital of France. Water boils at 100 degrees Celsius at sea level.
import numpy as np; x = np.zeros(3); print(x) # code comment with brackets [] {} ()
Once upon a time there was a small model that learned to answer questions politely.
0 1 2 3 4 5 6 7 8 9 10 100 1000 + - * / = < > ! ? , . ; : ' " @ # $ % ^ & _ ~ `
"""


def build_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ChatML special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([line for line in _CORPUS.splitlines() if line] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(
    path: str | os.PathLike[str],
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vocab_size: int = 512,
    max_position_embeddings: int = 1024,
    seed: int = 0,
    dtype: str = "float32",
) -> Path:
    """Build and save a tiny Llama-style chat model and tokenizer in ``path``; returns the path.

    Needs torch and transformers (imported only here). Takes about a second on a CPU.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, max_new_tokens=32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "lf_tiny_model.json").write_text(json.dumps({"seed": seed, "hidden_size": hidden_size, "layers": layers}))
    return out
