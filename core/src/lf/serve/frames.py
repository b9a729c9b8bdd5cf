"""The Server-Sent Events of a streamed completion, chat or text, in OpenAI's shapes."""

from __future__ import annotations

from lf.serve.schemas import (
    ChatChunkChoice,
    ChatCompletionChunk,
    Chunk,
    CompletionChoice,
    CompletionResponse,
    Delta,
    FinishReason,
    Usage,
)
from lf.serve.wire import sse


def usage_of(last: Chunk) -> Usage:
    """The usage a stream reports, from its last chunk."""
    return Usage(
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
        total_tokens=last.prompt_tokens + last.completion_tokens,
    )


class ChatFrames:
    """``chat.completion.chunk`` events: the role first, then content deltas, then (optionally) usage."""

    def __init__(self, request_id: str, created: int, model: str) -> None:
        self.id, self.created, self.model = f"chatcmpl-{request_id}", created, model

    def _chunk(self, choices: list[ChatChunkChoice], usage: Usage | None = None) -> bytes:
        return sse(
            ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=choices, usage=usage)
        )

    def opening(self) -> bytes:
        """The first event: the assistant's role."""
        return self._chunk([ChatChunkChoice(delta=Delta(role="assistant", content=""))])

    def content(self, text: str, finish: FinishReason | None) -> bytes:
        """One piece of the answer (and its finish reason at the end)."""
        return self._chunk([ChatChunkChoice(delta=Delta(content=text) if text else Delta(), finish_reason=finish)])

    def usage(self, last: Chunk) -> bytes:
        """The usage event: no choices, token counts."""
        return self._chunk([], usage_of(last))


class TextFrames:
    """``text_completion`` events of ``/v1/completions``."""

    def __init__(self, request_id: str, created: int, model: str) -> None:
        self.id, self.created, self.model = f"cmpl-{request_id}", created, model

    def opening(self) -> bytes:
        """Nothing: text streams start with their first piece."""
        return b""

    def content(self, text: str, finish: FinishReason | None) -> bytes:
        """One piece of the answer (and its finish reason at the end)."""
        choice = CompletionChoice(text=text, finish_reason=finish)
        return sse(CompletionResponse(id=self.id, created=self.created, model=self.model, choices=[choice]))

    def usage(self, last: Chunk) -> bytes:
        """The usage event: no choices, token counts."""
        return sse(
            CompletionResponse(id=self.id, created=self.created, model=self.model, choices=[], usage=usage_of(last))
        )
