"""The built-in data formats: alpaca, sharegpt, messages, prompt-response, dpo, text.

Each format is a small class with:

* ``name``, ``shape`` (``"chat"``, ``"preference"`` or ``"text"``) and ``summary``;
* ``record_type``: a msgspec Struct describing the record, used both to validate and to
  decode JSONL at C speed (``lf data validate`` reads a million records a second or so);
* ``detect(record)``: does a decoded JSON object look like this format?
* ``validate(record)``: the problems that make a record unusable (empty when fine);
* ``warnings(record)``: what is suspicious but usable (empty response, chosen == rejected);
* converters to and from the internal shapes: ``to_messages`` / ``from_messages`` (chat),
  ``to_preference`` / ``from_preference`` (preference), ``to_text`` / ``from_text`` (text).

Third-party formats follow the same shape (see ``register_data_formats``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from lf.data.record_types import (
    AlpacaRecord,
    DPORecord,
    MessagesRecord,
    PromptResponseRecord,
    ShareGPTRecord,
    TextRecord,
)

Message = dict[str, str]

CHAT_ROLES = ("system", "user", "assistant", "tool")
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "tool": "tool",
    "function_call": "assistant",
    "observation": "tool",
    "function": "tool",
}


class Preference(msgspec.Struct, kw_only=True):
    """The internal preference shape: a conversation prefix and two candidate replies."""

    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]


# --- helpers --------------------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of ``{"type": "text"}`` parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))


def _msgs(items: Any) -> list[Message]:
    return [{"role": m.role, "content": content_text(m.content)} for m in items]


def _blank(text: str | None) -> bool:
    return not text or not text.strip()


def _check_conversation(messages: list[Message], *, need_assistant_last: bool = True) -> list[str]:
    problems: list[str] = []
    if not messages:
        return ["the conversation is empty"]
    for i, m in enumerate(messages):
        if m["role"] not in CHAT_ROLES:
            problems.append(f"message {i}: unknown role '{m['role']}' (expected one of {', '.join(CHAT_ROLES)})")
    if not any(m["role"] == "user" for m in messages):
        problems.append("no user message")
    if need_assistant_last and messages[-1]["role"] != "assistant":
        problems.append("the last message must be the assistant's (it is what the model learns to say)")
    for i, m in enumerate(messages[1:], 1):
        if m["role"] == "system":
            problems.append(f"message {i}: a system message may only come first")
    return problems


class DataFormat:
    """Base class of the built-in formats (plugins may follow the shape without inheriting)."""

    name: ClassVar[str]
    shape: ClassVar[str]
    summary: ClassVar[str]
    record_type: ClassVar[type[msgspec.Struct]]
    #: Keys whose presence identifies the format (all must be present).
    keys: ClassVar[tuple[str, ...]]

    def detect(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` has this format's identifying keys."""
        return isinstance(record, Mapping) and all(k in record for k in self.keys)

    def parse(self, record: Mapping[str, Any]) -> msgspec.Struct:
        """The typed record; raises ``msgspec.ValidationError`` on a shape mismatch."""
        return msgspec.convert(record, self.record_type)

    def validate(self, record: Mapping[str, Any]) -> list[str]:
        """Problems that make ``record`` unusable (empty list when it is fine)."""
        try:
            typed = self.parse(record)
        except msgspec.ValidationError as exc:
            return [_shape_problem(str(exc))]
        return self.problems(typed)

    def warnings(self, record: Mapping[str, Any]) -> list[str]:
        """Suspicious but usable content."""
        try:
            return self.typed_warnings(self.parse(record))
        except msgspec.ValidationError:
            return []

    # typed variants used by the fast validator
    def problems(self, typed: Any) -> list[str]:
        """Problems of an already typed record."""
        return []

    def typed_warnings(self, typed: Any) -> list[str]:
        """Warnings of an already typed record."""
        return []


def _shape_problem(msg: str) -> str:
    msg = msg.replace(" - at `$`", "").replace("`$.", "`")
    return msg[0].lower() + msg[1:]


class ChatFormat(DataFormat):
    """A format whose records are conversations."""

    shape = "chat"

    def to_messages(self, record: Mapping[str, Any]) -> list[Message]:
        """The record as OpenAI-style messages."""
        return self.typed_messages(self.parse(record))

    def typed_messages(self, typed: Any) -> list[Message]:
        """Messages of an already typed record."""
        raise TypeError(f"{self.name} cannot produce messages")

    def from_messages(self, messages: list[Message]) -> dict[str, Any]:
        """A record of this format holding ``messages``."""
        raise TypeError(f"{self.name} cannot hold arbitrary conversations")

    def problems(self, typed: Any) -> list[str]:
        """Conversation-level checks shared by every chat format."""
        return _check_conversation(self.typed_messages(typed))

    def typed_warnings(self, typed: Any) -> list[str]:
        """An empty final assistant message is the classic silent data bug."""
        messages = self.typed_messages(typed)
        if messages and messages[-1]["role"] == "assistant" and _blank(messages[-1]["content"]):
            return ["the assistant response is empty"]
        return []


class AlpacaFormat(ChatFormat):
    """``{"instruction", "input"?, "output", "system"?}`` (Stanford Alpaca)."""

    name = "alpaca"
    summary = "instruction / input / output records (Stanford Alpaca)"
    record_type = AlpacaRecord
    keys = ("instruction", "output")

    def typed_messages(self, typed: Any) -> list[Message]:
        """System (optional), user (instruction + input), assistant (output)."""
        user = typed.instruction if _blank(typed.input) else f"{typed.instruction}\n\n{typed.input}"
        msgs = [{"role": "system", "content": typed.system}] if typed.system else []
        return [*msgs, {"role": "user", "content": user}, {"role": "assistant", "content": typed.output}]

    def problems(self, typed: Any) -> list[str]:
        """The instruction must not be empty."""
        return ["'instruction' is empty"] if _blank(typed.instruction) else []

    def typed_warnings(self, typed: Any) -> list[str]:
        """Empty output."""
        return ["'output' (the response) is empty"] if _blank(typed.output) else []

    def from_messages(self, messages: list[Message]) -> dict[str, Any]:
        """Single-turn conversations only (alpaca has no history)."""
        system, turns = _split_system(messages)
        if len(turns) != 2 or turns[0]["role"] != "user" or turns[1]["role"] != "assistant":
            raise ValueError("alpaca holds one user turn and one assistant reply; use messages or sharegpt")
        out: dict[str, Any] = {"instruction": turns[0]["content"], "input": "", "output": turns[1]["content"]}
        if system:
            out["system"] = system
        return out


def _split_system(messages: list[Message]) -> tuple[str | None, list[Message]]:
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"], messages[1:]
    return None, messages


class ShareGPTFormat(ChatFormat):
    """``{"conversations": [{"from": "human"|"gpt"|..., "value"}], "system"?}``."""

    name = "sharegpt"
    summary = "conversations of {from, value} turns (ShareGPT, Vicuna)"
    record_type = ShareGPTRecord
    keys = ("conversations",)

    def typed_messages(self, typed: Any) -> list[Message]:
        """Map ShareGPT speakers to OpenAI roles (unknown speakers kept, then reported)."""
        msgs = [{"role": "system", "content": typed.system}] if typed.system else []
        for turn in typed.conversations:
            msgs.append({"role": _SHAREGPT_ROLES.get(turn.from_.lower(), turn.from_), "content": turn.value})
        return msgs

    def from_messages(self, messages: list[Message]) -> dict[str, Any]:
        """Any conversation."""
        back = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
        return {"conversations": [{"from": back[m["role"]], "value": m["content"]} for m in messages]}


class MessagesFormat(ChatFormat):
    """``{"messages": [{"role", "content"}]}`` (OpenAI chat)."""

    name = "messages"
    summary = "OpenAI chat messages [{role, content}]"
    record_type = MessagesRecord
    keys = ("messages",)

    def typed_messages(self, typed: Any) -> list[Message]:
        """Messages as they are (content parts joined to text)."""
        return _msgs(typed.messages)

    def from_messages(self, messages: list[Message]) -> dict[str, Any]:
        """Any conversation."""
        return {"messages": [dict(m) for m in messages]}


class PromptResponseFormat(ChatFormat):
    """``{"prompt", "response", "system"?}``."""

    name = "prompt-response"
    summary = "prompt / response pairs with an optional system prompt"
    record_type = PromptResponseRecord
    keys = ("prompt", "response")

    def detect(self, record: Mapping[str, Any]) -> bool:
        """Prompt + response, and not a preference record."""
        return super().detect(record) and "chosen" not in record

    def typed_messages(self, typed: Any) -> list[Message]:
        """System (optional), user, assistant."""
        msgs = [{"role": "system", "content": typed.system}] if typed.system else []
        return [*msgs, {"role": "user", "content": typed.prompt}, {"role": "assistant", "content": typed.response}]

    def problems(self, typed: Any) -> list[str]:
        """The prompt must not be empty."""
        return ["'prompt' is empty"] if _blank(typed.prompt) else []

    def typed_warnings(self, typed: Any) -> list[str]:
        """Empty response."""
        return ["'response' is empty"] if _blank(typed.response) else []

    def from_messages(self, messages: list[Message]) -> dict[str, Any]:
        """Single-turn conversations only."""
        system, turns = _split_system(messages)
        if len(turns) != 2 or turns[0]["role"] != "user" or turns[1]["role"] != "assistant":
            raise ValueError("prompt-response holds one user turn and one reply; use messages or sharegpt")
        out: dict[str, Any] = {"prompt": turns[0]["content"], "response": turns[1]["content"]}
        if system:
            out["system"] = system
        return out


class DPOFormat(DataFormat):
    """``{"prompt", "chosen", "rejected", "system"?}``; each a string or a message list."""

    name = "dpo"
    shape = "preference"
    summary = "preference triples prompt / chosen / rejected (strings or message lists)"
    record_type = DPORecord
    keys = ("prompt", "chosen", "rejected")

    def to_preference(self, record: Mapping[str, Any]) -> Preference:
        """The internal preference shape."""
        return self.typed_preference(self.parse(record))

    def typed_preference(self, typed: Any) -> Preference:
        """Strings become single messages; a system prompt is prepended to the prompt."""
        prompt = [{"role": "user", "content": typed.prompt}] if isinstance(typed.prompt, str) else _msgs(typed.prompt)
        if typed.system and not (prompt and prompt[0]["role"] == "system"):
            prompt = [{"role": "system", "content": typed.system}, *prompt]

        def reply(x: Any) -> list[Message]:
            return [{"role": "assistant", "content": x}] if isinstance(x, str) else _msgs(x)

        return Preference(prompt=prompt, chosen=reply(typed.chosen), rejected=reply(typed.rejected))

    def to_messages(self, record: Mapping[str, Any]) -> list[Message]:
        """Prompt followed by the chosen reply (SFT on the preferred answers)."""
        pref = self.to_preference(record)
        return [*pref.prompt, *pref.chosen]

    def from_preference(self, pref: Preference) -> dict[str, Any]:
        """Strings where the conversation is a single turn, message lists otherwise."""
        system, turns = _split_system(pref.prompt)
        simple = len(turns) == 1 and turns[0]["role"] == "user" and len(pref.chosen) == len(pref.rejected) == 1
        if simple:
            out: dict[str, Any] = {
                "prompt": turns[0]["content"],
                "chosen": pref.chosen[0]["content"],
                "rejected": pref.rejected[0]["content"],
            }
            if system:
                out["system"] = system
            return out
        return {"prompt": pref.prompt, "chosen": pref.chosen, "rejected": pref.rejected}

    def problems(self, typed: Any) -> list[str]:
        """A prompt and two replies, none empty."""
        pref = self.typed_preference(typed)
        problems = []
        if not pref.prompt or all(_blank(m["content"]) for m in pref.prompt):
            problems.append("'prompt' is empty")
        for key in ("chosen", "rejected"):
            msgs = getattr(pref, key)
            if not msgs:
                problems.append(f"'{key}' is empty")
            elif msgs[-1]["role"] != "assistant":
                problems.append(f"'{key}' must end with an assistant message")
        return problems

    def typed_warnings(self, typed: Any) -> list[str]:
        """Identical or empty replies teach nothing."""
        pref = self.typed_preference(typed)
        warnings = []
        chosen = "".join(m["content"] for m in pref.chosen)
        rejected = "".join(m["content"] for m in pref.rejected)
        if chosen.strip() == rejected.strip():
            warnings.append("'chosen' and 'rejected' are identical")
        for key, text in (("chosen", chosen), ("rejected", rejected)):
            if _blank(text):
                warnings.append(f"'{key}' response is empty")
        return warnings


class TextFormat(DataFormat):
    """``{"text"}``: raw text for continued pretraining."""

    name = "text"
    shape = "text"
    summary = "raw text for continued pretraining"
    record_type = TextRecord
    keys = ("text",)

    def to_text(self, record: Mapping[str, Any]) -> str:
        """The text."""
        return str(record["text"])

    def from_text(self, text: str) -> dict[str, Any]:
        """A text record."""
        return {"text": text}

    def typed_warnings(self, typed: Any) -> list[str]:
        """Empty text."""
        return ["'text' is empty"] if _blank(typed.text) else []


#: The built-in formats, in detection order (the most specific first).
BUILTIN_FORMATS: tuple[type[DataFormat], ...] = (
    DPOFormat,
    MessagesFormat,
    ShareGPTFormat,
    AlpacaFormat,
    PromptResponseFormat,
    TextFormat,
)
