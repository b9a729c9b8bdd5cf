"""The msgspec shapes of the built-in formats' records: they validate and decode JSONL at C speed."""

from __future__ import annotations

from typing import Any

import msgspec


class MessageRecord(msgspec.Struct):
    """One OpenAI-style message: a role and a string or a list of content parts."""

    role: str
    content: str | list[dict[str, Any]] | None = None


class AlpacaRecord(msgspec.Struct):
    """``alpaca``: instruction, optional input, output, optional system prompt."""

    instruction: str
    output: str
    input: str = ""
    system: str | None = None


class ShareGPTTurn(msgspec.Struct):
    """One ``sharegpt`` turn: who spoke (``from``) and what (``value``)."""

    value: str
    from_: str = msgspec.field(name="from")


class ShareGPTRecord(msgspec.Struct):
    """``sharegpt``: a list of turns and an optional system prompt."""

    conversations: list[ShareGPTTurn]
    system: str | None = None


class MessagesRecord(msgspec.Struct):
    """``messages``: an OpenAI chat conversation."""

    messages: list[MessageRecord]


class PromptResponseRecord(msgspec.Struct):
    """``prompt-response``: one prompt, one response, an optional system prompt."""

    prompt: str
    response: str
    system: str | None = None


class DPORecord(msgspec.Struct):
    """``dpo``: a prompt and the chosen and rejected replies (strings or message lists)."""

    prompt: str | list[MessageRecord]
    chosen: str | list[MessageRecord]
    rejected: str | list[MessageRecord]
    system: str | None = None


class TextRecord(msgspec.Struct):
    """``text``: plain text for pretraining."""

    text: str
