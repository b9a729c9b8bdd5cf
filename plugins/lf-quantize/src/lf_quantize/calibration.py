"""Calibration data: texts from a file (any lf data format, or plain text) or the bundled set, packed into token blocks.

Chat records (alpaca, sharegpt, messages, prompt-response, and dpo's chosen conversation)
are rendered through the model's chat template when it has one, so the calibration sees
the same token patterns as the model will when serving. The texts are then joined and cut
into blocks of ``max_seq_length`` tokens: short records share a block, long ones span
several, and no padding is wasted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lf.errors import DataError

BUNDLED = "(bundled calibration set)"
#: The last, partial block is kept only if it is at least this long.
MIN_TAIL_TOKENS = 32


@dataclass
class Calibration:
    """Token blocks ready for the engine, and where they came from."""

    blocks: list[list[int]]
    source: str
    texts: int

    @property
    def tokens(self) -> int:
        """Total calibration tokens."""
        return sum(len(b) for b in self.blocks)


def bundled_calibration_texts() -> list[str]:
    """The small calibration set shipped with this plugin: varied prose, dialogue and code (about 5k tokens)."""
    from lf_evaluate import split_plain_text

    text = (resources.files("lf_quantize") / "data" / "calibration.txt").read_text(encoding="utf-8")
    return split_plain_text(text)


def _chat_texts(path: Path, tokenizer: Any) -> list[str] | None:
    """Chat records rendered through the chat template, or None when that does not apply."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    from lf.data.convert import to_internal
    from lf.data.detect import detect_file_format
    from lf.data.io import iter_raw

    fmt = detect_file_format(path)
    if fmt.shape not in ("chat", "preference"):
        return None
    texts: list[str] = []
    for _, record, error in iter_raw(path):
        if error is not None or not isinstance(record, dict) or fmt.validate(record):
            continue
        if fmt.shape == "chat":
            messages = to_internal(fmt, record, "chat")
        else:
            pref = to_internal(fmt, record, "preference")
            messages = [*pref.prompt, *pref.chosen]
        try:
            texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
        except Exception:  # a template that rejects these roles: fall back to plain text
            return None
    return texts


def calibration_texts(source: str | os.PathLike[str] | None, tokenizer: Any) -> tuple[list[str], str]:
    """``(texts, label)`` of the calibration source (see the module docstring)."""
    from lf_evaluate import DATA_SUFFIXES, load_texts

    if source is None or str(source) == "":
        return bundled_calibration_texts(), BUNDLED
    path = Path(source)
    texts = None
    if path.is_file() and path.suffix.lower() in DATA_SUFFIXES:
        texts = _chat_texts(path, tokenizer)
    if texts is None:
        texts = load_texts(path)
    return texts, str(source)


def pack(texts: list[str], tokenizer: Any, *, max_seq_length: int, max_blocks: int) -> list[list[int]]:
    """Join the texts (blank line between) and cut the tokens into blocks of ``max_seq_length``."""
    ids: list[int] = tokenizer("\n\n".join(texts)).input_ids
    blocks = [ids[i : i + max_seq_length] for i in range(0, len(ids), max_seq_length)]
    if len(blocks) > 1 and len(blocks[-1]) < MIN_TAIL_TOKENS:
        blocks.pop()
    return blocks[:max_blocks]


def prepare(
    source: str | None,
    tokenizer: Any,
    *,
    max_seq_length: int,
    max_blocks: int,
    min_tokens: int,
) -> Calibration:
    """Load, render and pack the calibration data; refuse too little of it before any heavy work."""
    texts, label = calibration_texts(source, tokenizer)
    blocks = pack(texts, tokenizer, max_seq_length=max_seq_length, max_blocks=max_blocks)
    calibration = Calibration(blocks=blocks, source=label, texts=len(texts))
    if calibration.tokens < min_tokens:
        raise DataError(
            f"Too little calibration data: {label} gives {calibration.tokens} tokens "
            f"({len(texts)} texts); at least {min_tokens} are needed for usable scales.",
            hint="Give a larger calibration_data file (a few hundred varied records), leave it empty for the "
            "bundled set, or lower min_calibration_tokens if you know what you are doing.",
        )
    return calibration
