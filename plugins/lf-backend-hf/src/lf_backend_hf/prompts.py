"""From a request to prompt token ids: chat template, tokenizer, context check; off the event loop when long.

Measured on this project's 2-core CPU (the tiny test tokenizer and SmolLM2's, both byte-level
BPE): tokenizing costs about 0.3 us a character (64 characters: 40 us, 1,024: 300 us,
3.9 MB: 3.3 s) and a round trip through a worker thread about 30 us. So a prompt of up to
:data:`INLINE_CHARS` characters is encoded on the event loop (it costs less than three
hops), a longer one in a worker thread (fast tokenizers release the GIL while they encode:
with a 3.9 MB prompt the loop's longest stall fell from 3.9 s to ~0.1 s, the time to turn
1.5 M ids into a Python list), and one past :data:`LARGE_CHARS` in one dedicated thread, so
a flood of huge prompts queues there instead of taking every worker thread and core.

A prompt that does not fit the context fails with :class:`~lf.errors.InvalidRequestError`
naming the token counts; one far too long is refused from a probe of its beginning,
without tokenizing all of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from lf.chat_template import render
from lf.errors import DataError, InvalidRequestError
from lf.serve.schemas import GenerationRequest

T = TypeVar("T")

INLINE_CHARS = 256
"""Prompts up to this many characters are encoded on the event loop (< ~0.1 ms)."""

LARGE_CHARS = 64 * 1024
"""Prompts past this many characters are encoded in the one thread kept for huge prompts."""

PROBE_CHARS_PER_TOKEN = 16
"""A prompt longer than ``PROBE_CHARS_PER_TOKEN x context`` characters is probed before it is encoded."""


def prompt_chars(request: GenerationRequest) -> int:
    """The prompt's size in characters (the text of every message for a chat): what encoding it costs."""
    if request.messages is None:
        return len(request.prompt or "")
    total = 0
    for message in request.messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(str(part.get("text") or "")) for part in content if isinstance(part, dict))
    return total


def encode(tokenizer: Any, request: GenerationRequest, max_len: int, model_name: str, empty_id: int) -> list[int]:
    """The prompt's token ids (chat template applied); refuses a prompt that leaves no room to generate."""
    param = "messages" if request.messages is not None else "prompt"
    if request.messages is not None:
        if not getattr(tokenizer, "chat_template", None):
            raise InvalidRequestError(
                f"The model '{model_name}' has no chat template; use /v1/completions.", details={"param": param}
            )
        try:
            text = render(tokenizer, request.messages, generation_prompt=True)
        except DataError as exc:  # the template refuses the conversation: the client's to fix (400)
            raise InvalidRequestError(exc.message, hint=exc.hint, details={"param": param}) from None
        special = False
    else:
        text, special = request.prompt or "", True
    _refuse_if_far_too_long(tokenizer, text, special, max_len, param)
    ids: list[int] = _ids(tokenizer, text, special) or [empty_id]
    if len(ids) >= max_len:
        raise InvalidRequestError(
            f"The prompt has {len(ids):,} tokens; the model accepts {max_len:,} in all (prompt and completion).",
            details={"param": param},
        )
    return ids


def _refuse_if_far_too_long(tokenizer: Any, text: str, special: bool, max_len: int, param: str) -> None:
    """Refuse without encoding it all a prompt whose beginning alone is twice the context.

    The ids of a prefix match the whole text's except near the cut, so a prefix of more
    than twice the context cannot belong to a prompt that fits.
    """
    probe = max_len * PROBE_CHARS_PER_TOKEN
    if len(text) <= probe:
        return
    count = len(_ids(tokenizer, text[:probe], special))
    if count > 2 * max_len:
        raise InvalidRequestError(
            f"The prompt is too long: its first {probe:,} characters alone are {count:,} tokens; "
            f"the model accepts {max_len:,} in all (prompt and completion).",
            details={"param": param},
        )


def _ids(tokenizer: Any, text: str, special: bool) -> list[int]:
    # No attention mask nor type ids: for a 3.9 MB prompt each is another 1.5 M-item list (~0.2 s).
    ids: list[int] = tokenizer(
        text, add_special_tokens=special, return_attention_mask=False, return_token_type_ids=False
    )["input_ids"]
    return ids


class PromptLanes:
    """Runs prompt encoding where its size says (see the module docstring)."""

    def __init__(self) -> None:
        self._large: ThreadPoolExecutor | None = None

    async def run(self, chars: int, work: Callable[[], T]) -> T:
        """``work()`` on the loop, in a worker thread or in the huge-prompt thread, by ``chars``.

        Cancelling the caller abandons the result; a huge prompt still waiting for its
        thread is then never encoded.
        """
        if chars <= INLINE_CHARS:
            return work()
        if chars <= LARGE_CHARS:
            return await asyncio.to_thread(work)
        if self._large is None:
            self._large = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lf-hf-large-prompts")
        return await asyncio.get_running_loop().run_in_executor(self._large, work)

    def close(self) -> None:
        """Stop the huge-prompt thread (prompts still waiting for it are dropped)."""
        if self._large is not None:
            self._large.shutdown(wait=False, cancel_futures=True)
            self._large = None
