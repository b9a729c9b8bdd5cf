"""The OpenAI wire format (and the backend contract) as msgspec Structs.

Requests are decoded straight from the body with msgspec; range checks live in the
types (``max_tokens >= 1``, ``0 <= temperature <= 2``), so a bad value is rejected with
the field's path and never with the value itself (a prompt never reaches an error or a log).

Backends see one normalized :class:`GenerationRequest` for both endpoints and answer with
:class:`Completion` (``generate``) or an async iterator of :class:`Chunk` (``stream``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

FinishReason = Literal["stop", "length"]

MaxTokens = Annotated[int, msgspec.Meta(ge=1, le=1 << 24)]
Temperature = Annotated[float, msgspec.Meta(ge=0.0, le=2.0)]
TopP = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
#: -1 (or 0): no top-k filter; larger than the vocabulary means the whole vocabulary.
TopK = Annotated[int, msgspec.Meta(ge=-1, le=1 << 20)]
#: A signed 64-bit integer (what OpenAI documents; msgspec bounds stop at int64).
Seed = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
Penalty = Annotated[float, msgspec.Meta(ge=-2.0, le=2.0)]
OneChoice = Annotated[int, msgspec.Meta(ge=1, le=1)]


ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
StopString = Annotated[str, msgspec.Meta(max_length=1000)]
Stop = StopString | Annotated[list[StopString], msgspec.Meta(max_length=16)]

#: Request Structs are strict (``forbid_unknown_fields``): an OpenAI parameter this server
#: does not implement (``tools``, ``response_format``, ``logprobs``, ``logit_bias``...) is
#: refused with a 400 naming it, never silently ignored. ``omit_defaults`` lets the router
#: forward exactly what the client set.


class StreamOptions(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """``stream_options``: ``include_usage`` adds a last chunk with the usage and no choices."""

    include_usage: bool = False


class _SamplingFields(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    model: ModelName
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    top_k: TopK | None = None
    stop: Stop | None = None
    seed: Seed | None = None
    n: OneChoice = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    user: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    #: vLLM's extension: keep generating past end-of-sequence (benchmarks with fixed lengths).
    ignore_eos: bool = False


class CompletionRequest(_SamplingFields, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """``POST /v1/completions``."""

    prompt: str | Annotated[list[str], msgspec.Meta(min_length=1)]
    echo: bool = False


class ContentPart(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """One part of a multi-part message content (only ``text`` parts are supported)."""

    type: str
    text: str | None = None


class ChatMessage(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """One chat message."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class ChatCompletionRequest(_SamplingFields, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """``POST /v1/chat/completions``."""

    messages: Annotated[list[ChatMessage], msgspec.Meta(min_length=1)]


# --- responses -------------------------------------------------------------------------------


class Usage(msgspec.Struct, kw_only=True):
    """Token counts of one request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionChoice(msgspec.Struct, kw_only=True):
    """One choice of a text completion (or a chunk of one, with ``finish_reason`` null)."""

    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: FinishReason | None = None


class CompletionResponse(msgspec.Struct, kw_only=True):
    """A text completion, or one streamed chunk of it (``choices`` empty in the usage chunk)."""

    id: str
    object: str = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class AssistantMessage(msgspec.Struct, kw_only=True):
    """The generated message."""

    role: str = "assistant"
    content: str


class ChatChoice(msgspec.Struct, kw_only=True):
    """One choice of a chat completion."""

    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionResponse(msgspec.Struct, kw_only=True):
    """A chat completion."""

    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class Delta(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a chat chunk adds to the message."""

    role: str | None = None
    content: str | None = None


class ChatChunkChoice(msgspec.Struct, kw_only=True):
    """One choice of a streamed chat chunk."""

    index: int = 0
    delta: Delta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(msgspec.Struct, kw_only=True):
    """One Server-Sent Event of a streamed chat completion."""

    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class ModelCard(msgspec.Struct, kw_only=True):
    """One entry of ``GET /v1/models``: a base model or a LoRA adapter on one."""

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "largeforge"
    root: str | None = None
    parent: str | None = None
    #: ``"base"`` or ``"lora"``.
    type: str = "base"
    #: The quantization method (``awq``, ``gptq``, ``bitsandbytes``, ``fp8``...), null when none.
    quantization: str | None = None
    max_model_len: int | None = None
    backend: str | None = None


class ModelList(msgspec.Struct, kw_only=True):
    """``GET /v1/models``."""

    object: str = "list"
    data: list[ModelCard]


class HealthResponse(msgspec.Struct, kw_only=True):
    """``GET /health``: healthy, degraded (loaded, but slow or shedding) or unhealthy (no model)."""

    status: Literal["healthy", "degraded", "unhealthy"]
    model: str | None
    backend: str
    uptime: float
    active_requests: int
    queued_requests: int
    reasons: list[str] = []


class ReadyResponse(msgspec.Struct, kw_only=True):
    """``GET /ready``."""

    ready: bool
    reason: str | None = None


class LoadRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /admin/models/load`` (a base model) or ``/admin/adapters/load`` (a LoRA adapter)."""

    path: str
    name: str | None = None


class UnloadRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /admin/models/unload`` or ``/admin/adapters/unload``."""

    name: str


# --- the backend contract -----------------------------------------------------------------------


class GenerationRequest(msgspec.Struct, kw_only=True):
    """What the server hands a backend: one prompt *or* a chat, and the sampling options.

    A backend applies its chat template to ``messages`` (``[{"role": ..., "content": ...}]``)
    and treats ``model`` as the base model's name or the name of a loaded LoRA adapter.
    """

    request_id: str
    model: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    stop: list[str] = []
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    ignore_eos: bool = False


class Completion(msgspec.Struct, kw_only=True):
    """A finished generation: text with stop strings removed, and token counts."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


class Chunk(msgspec.Struct, kw_only=True):
    """A piece of a streamed generation; the last one has ``finish_reason`` set.

    ``completion_tokens`` counts every token produced so far (the server derives tokens/s
    and time to first token from it); ``prompt_tokens`` is known from the first chunk on.
    """

    text: str
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class BackendStatus(msgspec.Struct, kw_only=True):
    """What a backend tells ``/ready`` and ``/health`` (see :meth:`Backend.status`)."""

    loaded: bool
    #: Requests the backend holds (running or waiting inside its engine).
    pending: int = 0
    #: ``time.monotonic()`` when the engine last produced a token (None: never).
    last_progress: float | None = None
    #: Set when the engine died; the server is then unhealthy.
    error: str | None = None
    #: Accelerator memory in use, by device name (``cuda:0``), when there is one.
    gpu_memory_used_bytes: dict[str, int] = {}
