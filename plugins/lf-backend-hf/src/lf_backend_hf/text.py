"""Turning generated token ids into text as they come (no split characters, right spaces)."""

from __future__ import annotations

from typing import Any

#: Prompt tokens kept as context so the first generated token decodes with its leading space.
_CONTEXT = 4


class IncrementalDetokenizer:
    """Text deltas for a growing list of token ids (the offsets method of vLLM and TGI)."""

    def __init__(self, tokenizer: Any, prompt_ids: list[int]) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = list(prompt_ids[-_CONTEXT:])
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def add(self, token_id: int) -> str:
        """Append one id; returns the new text it completes (possibly empty)."""
        self.ids.append(token_id)
        decode = self.tokenizer.decode
        prefix = decode(self.ids[self.prefix_offset : self.read_offset], skip_special_tokens=True)
        full = decode(self.ids[self.prefix_offset :], skip_special_tokens=True)
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
            return str(full[len(prefix) :])
        return ""
