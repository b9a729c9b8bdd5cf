"""What a tokenizer's chat template says about turns, for any model family.

* :func:`render` - a conversation as text, a template's refusal (``raise_exception``: roles that
  do not alternate, a system message where the family has none) turned into a
  :class:`~lf.errors.DataError` that gives the template's reason;
* :func:`end_of_turn_token` - the token the template closes an assistant reply with
  (``<|im_end|>``, ``<|eot_id|>``, ``<end_of_turn>``, ``<|end|>``, ``</s>``...), found by rendering
  a one-turn conversation; servers stop on it, trainers train it, exporters record it;
* :func:`closing_marker` - the special token a rendered reply ends with.

Plugins use these (the SFT trainer's loss mask, the hf backend's stop ids, the GGUF export's
metadata) so that every family behaves the same everywhere. Nothing heavy is imported here;
``jinja2`` (a dependency of transformers) only when a template is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lf.errors import DataError

#: End-of-turn markers of common families, looked for even when a tokenizer does not mark them special.
KNOWN_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>")


def render(tokenizer: Any, messages: Sequence[dict[str, Any]], *, generation_prompt: bool) -> str:
    """``messages`` rendered with the tokenizer's chat template ("" for none); a refusal is a DataError."""
    if not messages:
        return ""
    from jinja2 import TemplateError

    try:
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    except TemplateError as exc:
        roles = "/".join(str(m.get("role")) for m in messages)
        hint = "Check the roles of the conversation."
        if any(m.get("role") == "system" for m in messages):
            hint = (
                "This chat template has no system role: fold the system message into the first user message, "
                "or give a chat_template that accepts one."
            )
        raise DataError(f"The chat template refused a conversation ({roles}): {exc}", hint=hint) from exc
    return str(text)


def _in_vocab(tokenizer: Any, token: str) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.token_to_id(token) is not None
    return token in tokenizer.get_vocab()


def turn_markers(tokenizer: Any) -> list[str]:
    """Texts that may close a turn: the tokenizer's special tokens and the known markers it has, longest first."""
    special = {str(t) for t in getattr(tokenizer, "all_special_tokens", None) or []}
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    special |= {str(t.content) for t in decoder.values() if getattr(t, "special", False)}
    special |= {m for m in KNOWN_MARKERS if _in_vocab(tokenizer, m)}
    if tokenizer.eos_token:
        special.add(str(tokenizer.eos_token))
    return sorted((m for m in special if m), key=len, reverse=True)


def closing_marker(tokenizer: Any, reply: str, markers: Sequence[str] | None = None) -> str | None:
    """The special token a rendered reply ends with (trailing whitespace ignored), or None."""
    text = reply.rstrip()
    return next((m for m in (markers or turn_markers(tokenizer)) if text.endswith(m)), None)


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The token the chat template closes an assistant reply with, or None.

    Found by rendering ``user: x / assistant: y`` with and without the reply, so it holds for
    any template; None when the tokenizer has no template, the template cannot render such a
    conversation, or it closes replies with plain text.
    """
    if not getattr(tokenizer, "chat_template", None):
        return None
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    try:
        before = render(tokenizer, messages[:1], generation_prompt=True)
        full = render(tokenizer, messages, generation_prompt=False)
    except (DataError, TypeError, ValueError):
        return None
    if not full.startswith(before):
        return None
    return closing_marker(tokenizer, full[len(before) :])
