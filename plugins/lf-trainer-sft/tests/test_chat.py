"""The loss mask: assistant replies and their end-of-turn token, for templates without generation markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from lf_trainer_sft.chat import FALLBACK_CHAT_TEMPLATE, IGNORE, encode_chat, preview_segments
from lf_trainer_sft.models import load_tokenizer

CONVERSATION = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "Four."},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "Six."},
]


def trained_text(tokenizer, encoded) -> list[str]:
    return [text for text, flag in preview_segments(tokenizer, encoded) if flag]


def test_smollm2_template_has_no_generation_markers_and_mask_still_ends_with_im_end(smollm2_dir: Path) -> None:
    tok = load_tokenizer(str(smollm2_dir))
    assert "{% generation %}" not in tok.chat_template  # the real template: TRL's assistant_only_loss cannot mask it
    encoded = encode_chat(tok, CONVERSATION, max_length=512)
    assert trained_text(tok, encoded) == ["Four.<|im_end|>", "Six.<|im_end|>"]
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    trained_ids = [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != IGNORE]
    assert trained_ids.count(im_end) == 2  # the end-of-turn token of each reply is inside the mask
    # nothing of the system prompt, the user turns or the assistant header is trained
    untrained = "".join(text for text, flag in preview_segments(tok, encoded) if not flag)
    assert "What is 2+2?" in untrained and "<|im_start|>assistant\n" in untrained


def test_tiny_tokenizer_mask(tiny_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_dir))
    encoded = encode_chat(tok, CONVERSATION, max_length=512)
    assert trained_text(tok, encoded) == ["Four.<|im_end|>", "Six.<|im_end|>"]


def test_train_on_all_trains_every_token(tiny_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_dir))
    encoded = encode_chat(tok, CONVERSATION, max_length=512, train_on="all")
    assert encoded["labels"] == encoded["input_ids"]


def test_truncation_keeps_the_first_max_length_tokens(tiny_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_dir))
    full = encode_chat(tok, CONVERSATION, max_length=512)
    cut = encode_chat(tok, CONVERSATION, max_length=10)
    assert cut["input_ids"] == full["input_ids"][:10]


def test_tokenizer_without_template_gets_chatml_fallback(tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    tok.chat_template = None
    tok.save_pretrained(tmp_path)
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    loaded = load_tokenizer(str(tmp_path))
    assert loaded.chat_template == FALLBACK_CHAT_TEMPLATE
    assert trained_text(loaded, encode_chat(loaded, CONVERSATION, max_length=512)) == [
        "Four.<|im_end|>",
        "Six.<|im_end|>",
    ]


def test_template_without_end_of_turn_gets_eos_appended_and_trained(tiny_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_dir))
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" + (
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    encoded = encode_chat(tok, CONVERSATION[:2], max_length=512)
    # " Four." is one BPE token with its leading space: a token overlapping the reply is trained
    assert [t.strip() for t in trained_text(tok, encoded)] == ["Four." + tok.eos_token]


def test_template_rewriting_history_without_markers_is_refused(tiny_dir: Path) -> None:
    from lf.errors import DataError

    tok = load_tokenizer(str(tiny_dir))
    # renders only the last message: no conversation prefix is stable
    tok.chat_template = "{{ messages[-1]['role'] }}: {{ messages[-1]['content'] }}<|im_end|>"
    with pytest.raises(DataError, match="train_on: all"):
        encode_chat(tok, CONVERSATION, max_length=512)
