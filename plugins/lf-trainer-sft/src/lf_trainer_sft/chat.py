"""Chat examples as the trainer sees them: template, tokens, and the loss mask.

The mask does not rely on ``{% generation %}`` markers (SmolLM2's own template has none).
Each assistant turn is located by rendering the conversation prefix by prefix: the text
of ``messages[:i]`` with the generation prompt ends where turn ``i``'s reply starts, and the
text of ``messages[:i + 1]`` ends after its end-of-turn token. Tokens overlapping those
character spans are trained; the end-of-turn token (``<|im_end|>`` in ChatML) is inside,
so the model learns to stop. A template whose renderings are not prefixes of each other
(one that rewrites earlier turns) falls back to its generation markers, or is refused.

A reply is closed by the template when its span ends with a special token (``<|eot_id|>``,
``<end_of_turn>``, ``<|end|>``, ``</s>``...); only a template that ends replies with plain text
gets the tokenizer's EOS appended. A template that refuses a conversation (``raise_exception``:
roles that do not alternate, a system message in a family without a system role) is a
:class:`~lf.errors.DataError` naming the template's reason, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lf.chat_template import closing_marker
from lf.chat_template import render as _render
from lf.errors import DataError

#: ChatML, used when a tokenizer has no chat template (base models).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

IGNORE = -100


class TemplateNotPrefixStableError(Exception):
    """Rendering a longer conversation changed the text of its earlier turns."""


def assistant_spans(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant replies.

    Each span runs from the first character of the reply to the end of its end-of-turn
    token (trailing whitespace excluded). When the template does not end the last reply
    with the tokenizer's EOS or a known end-of-turn marker, EOS is appended and trained.
    """
    full = _render(tokenizer, messages, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        before = _render(tokenizer, messages[:i], generation_prompt=True)
        upto = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not full.startswith(before) or not full.startswith(upto) or len(upto) <= len(before):
            raise TemplateNotPrefixStableError(f"turn {i}")
        end = len(upto.rstrip())
        spans.append((len(before), end if end > len(before) else len(upto)))
    if spans:
        start, end = spans[-1]
        if closing_marker(tokenizer, full[start:end]) is None and tokenizer.eos_token:
            full = full[:end] + tokenizer.eos_token + full[end:]
            spans[-1] = (start, end + len(tokenizer.eos_token))
    return full, spans


def encode_chat(
    tokenizer: Any, messages: Sequence[dict[str, Any]], *, max_length: int, train_on: str = "assistant"
) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` (``-100`` where no loss) for one conversation."""
    try:
        full, spans = assistant_spans(tokenizer, messages)
    except TemplateNotPrefixStableError:
        return _encode_with_generation_markers(tokenizer, messages, max_length=max_length, train_on=train_on)
    ids, trained = _tokenize_spans(tokenizer, full, spans)
    ids, trained = ids[:max_length], trained[:max_length]
    if train_on == "all":
        return {"input_ids": ids, "labels": list(ids)}
    return {"input_ids": ids, "labels": [t if m else IGNORE for t, m in zip(ids, trained, strict=True)]}


def _tokenize_spans(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[bool]]:
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        trained = [any(s < e_span and e > s_span for s_span, e_span in spans) for s, e in enc["offset_mapping"]]
        return ids, trained
    # slow tokenizers have no offsets: tokenize the pieces between span boundaries
    ids, trained, pos = [], [], 0
    for start, end in spans:
        for piece, flag in ((text[pos:start], False), (text[start:end], True)):
            if piece:
                piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
                ids += piece_ids
                trained += [flag] * len(piece_ids)
        pos = end
    tail = tokenizer(text[pos:], add_special_tokens=False)["input_ids"] if text[pos:] else []
    return ids + tail, trained + [False] * len(tail)


def _encode_with_generation_markers(
    tokenizer: Any, messages: Sequence[dict[str, Any]], *, max_length: int, train_on: str
) -> dict[str, list[int]]:
    template = getattr(tokenizer, "chat_template", "") or ""
    if train_on != "all" and "{% generation %}" not in template.replace("{%- generation %}", "{% generation %}"):
        raise DataError(
            "The chat template rewrites earlier turns when a conversation grows (so assistant turns cannot be "
            "located by prefix) and it has no {% generation %} markers.",
            hint="Set train_on: all, or give a chat_template whose turns render independently.",
        )
    enc = tokenizer.apply_chat_template(
        list(messages), tokenize=True, return_dict=True, return_assistant_tokens_mask=train_on != "all"
    )
    ids = list(enc["input_ids"])[:max_length]
    if train_on == "all":
        return {"input_ids": ids, "labels": list(ids)}
    mask = list(enc["assistant_masks"])[:max_length]
    return {"input_ids": ids, "labels": [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]}


def tokenize_dataset(dataset: Any, tokenizer: Any, *, max_length: int, train_on: str, desc: str = "") -> Any:
    """Map a ``messages`` dataset to ``input_ids``/``labels``; examples with nothing to learn are dropped."""

    def encode(example: dict[str, Any]) -> dict[str, list[int]]:
        return encode_chat(tokenizer, example["messages"], max_length=max_length, train_on=train_on)

    columns = list(dataset.column_names or ["messages"])
    out = dataset.map(encode, remove_columns=columns, **progress(dataset, desc or "Tokenizing chats"))
    return out.filter(_has_loss, **progress(dataset, "Dropping examples without loss"))


def _has_loss(example: dict[str, Any]) -> bool:
    return any(label != IGNORE for label in example["labels"])


def progress(dataset: Any, desc: str) -> dict[str, str]:
    """``desc=`` for ``Dataset.map``; a streamed ``IterableDataset`` maps lazily, with no progress bar to name."""
    return {"desc": desc} if hasattr(dataset, "__len__") else {}


def preview_segments(tokenizer: Any, encoded: dict[str, list[int]]) -> list[tuple[str, bool]]:
    """The example as text pieces, each marked trained or not (consecutive tokens grouped).

    Each token's text is what it adds to the decoded text of the few tokens before it: decoding
    a SentencePiece token alone drops its leading space (``▁Four`` would show as ``Four``).
    """
    segments: list[tuple[str, bool]] = []
    ids = encoded["input_ids"]
    for i, label in enumerate(encoded["labels"]):
        window = ids[max(0, i - 6) : i]
        before = tokenizer.decode(window, skip_special_tokens=False) if window else ""
        text = tokenizer.decode([*window, ids[i]], skip_special_tokens=False)
        alone = text[len(before) :] if text.startswith(before) else None
        piece = alone if alone is not None else tokenizer.decode([ids[i]], skip_special_tokens=False)
        flag = label != IGNORE
        if segments and segments[-1][1] == flag:
            segments[-1] = (segments[-1][0] + piece, flag)
        else:
            segments.append((piece, flag))
    return segments
