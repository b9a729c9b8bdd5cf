"""Checks an OpenAI request needs beyond its schema, and its translation for a backend.

The schema (:mod:`lf.serve.schemas`) bounds every field and refuses unknown ones; what
is left - the size of the whole prompt, content parts that are not text, one prompt per
request - is checked here, the same way by the model server and the router.
"""

from __future__ import annotations

from typing import Any

from lf.errors import InvalidRequestError
from lf.serve.config import RequestDefaults
from lf.serve.schemas import ChatCompletionRequest, ChatMessage, CompletionRequest, GenerationRequest

OpenAIRequest = CompletionRequest | ChatCompletionRequest


def message_text(message: ChatMessage) -> str:
    """A message's text: its content, or its text parts joined; other part types are refused."""
    content = message.content
    if not isinstance(content, list):
        return content or ""
    parts = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise InvalidRequestError(
                f"Message content of type '{part.type}' is not supported; send text.", details={"param": "messages"}
            )
        parts.append(part.text)
    return "".join(parts)


def prompt_chars(body: OpenAIRequest) -> int:
    """Characters of the prompt, every message together."""
    if isinstance(body, ChatCompletionRequest):
        return sum(len(message_text(m)) for m in body.messages)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    return sum(len(p) for p in prompts)


def check_prompt_size(body: OpenAIRequest, max_chars: int) -> None:
    """400 when the prompt is longer than ``limits.max_prompt_chars``."""
    size = prompt_chars(body)
    if size > max_chars:
        raise InvalidRequestError(
            f"The prompt has {size} characters; this server accepts at most {max_chars}.",
            details={"param": "messages" if isinstance(body, ChatCompletionRequest) else "prompt"},
            hint="Shorten the prompt (or raise limits.max_prompt_chars).",
        )


def query_text(body: OpenAIRequest) -> str:
    """What a router's classifier reads: the last user message (the last message when none), or the prompt."""
    if isinstance(body, CompletionRequest):
        return body.prompt if isinstance(body.prompt, str) else " ".join(body.prompt[:1])
    users = [m for m in body.messages if m.role == "user"] or body.messages
    content = users[-1].content
    if isinstance(content, list):
        return " ".join(part.text or "" for part in content if part.type == "text")
    return content or ""


def to_generation(body: OpenAIRequest, request_id: str, defaults: RequestDefaults | None = None) -> GenerationRequest:
    """The backend's :class:`GenerationRequest` from an OpenAI request (server defaults for what it omits)."""
    d = defaults or RequestDefaults()
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    req = GenerationRequest(
        request_id=request_id,
        model=body.model,
        max_tokens=body.max_tokens or body.max_completion_tokens or d.max_tokens,
        temperature=_first(body.temperature, d.temperature, 1.0),
        top_p=_first(body.top_p, d.top_p, 1.0),
        top_k=int(_first(body.top_k, d.top_k, -1)),
        stop=stop,
        seed=body.seed,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        ignore_eos=body.ignore_eos,
    )
    if isinstance(body, ChatCompletionRequest):
        req.messages = [_message_dict(m) for m in body.messages]
        return req
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise InvalidRequestError(
            "Send exactly one prompt per request.", details={"param": "prompt"}, hint="Send several requests."
        )
    req.prompt = prompts[0]
    return req


def _first(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": message_text(message)}
