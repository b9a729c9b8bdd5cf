"""Options of the generators ``synthetic`` and ``preferences`` (this module imports only msgspec)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

Probability = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
Temperature = Annotated[float, msgspec.Meta(ge=0.0, le=2.0)]

#: Regular expressions (case-insensitive, searched in the first 400 characters) of refusals.
DEFAULT_REFUSAL_PATTERNS: list[str] = [
    r"\bas an ai(?: language)? model\b",
    r"\bI(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:no|')t|am unable|won't|will not)\b",
    r"\bI can(?:no|')t (?:help|assist|provide|comply|fulfil+|do that|answer)\b",
    r"\bI(?:'m| am) (?:not able|unable) to (?:help|assist|provide|comply|fulfil+|answer)\b",
    r"\bI (?:must|have to) (?:decline|refuse)\b",
    r"\bI won't be able to (?:help|assist|provide)\b",
]

#: How a judge scores one response (``{prompt}`` and ``{response}`` are filled in).
DEFAULT_RUBRIC = (
    "Rate how well the response answers the user's request, from 1 (useless, wrong or off-topic) "
    "to 10 (correct, complete, clear and concise). Judge helpfulness, correctness and clarity; "
    "ignore length unless it hurts clarity."
)


class ModelRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A model to talk to: an OpenAI-compatible endpoint, or a model loaded in-process by a backend."""

    base_url: Annotated[
        str | None,
        msgspec.Meta(
            description="OpenAI-compatible endpoint (an lf server, vLLM, a hosted API), e.g. "
            "http://127.0.0.1:8000/v1; empty: load `model` in this process with `backend`"
        ),
    ] = None
    model: Annotated[
        str | None,
        msgspec.Meta(
            description="With base_url: the served model name (empty: the endpoint's first model). "
            "Without: a model directory (or shorthand: tiny, smollm2) loaded by `backend`"
        ),
    ] = None
    api_key_env: Annotated[
        str | None,
        msgspec.Meta(description="Name of the environment variable holding the endpoint's API key (never the key)"),
    ] = None
    backend: Annotated[
        str, msgspec.Meta(description="Registered inference backend that loads `model` in-process (hf, vllm, ...)")
    ] = "hf"
    backend_options: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Extra options of that backend's config (dtype, device, max_batch_size, ...)"),
    ] = {}
    timeout_s: Annotated[float, msgspec.Meta(gt=0, description="Seconds one request may take")] = 300.0


class JudgeConfig(ModelRef, kw_only=True, forbid_unknown_fields=True):
    """A judge model that scores each response from 1 to 10 with a rubric."""

    rubric: Annotated[str, msgspec.Meta(description="What a good response is; the judge scores 1-10 against it")] = (
        DEFAULT_RUBRIC
    )
    max_tokens: Annotated[int, msgspec.Meta(ge=1, description="Tokens the judge may write (its score comes first)")] = (
        64
    )


class _GeneratorConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options shared by both generators."""

    output: Annotated[
        str,
        msgspec.Meta(
            description="Output file: .jsonl (appended as records are produced), .json or .parquet "
            "(written from a .partial.jsonl beside it)"
        ),
    ]
    teacher: Annotated[ModelRef, msgspec.Meta(description="The model that writes the responses")] = msgspec.field(
        default_factory=ModelRef
    )
    prompts: Annotated[list[str], msgspec.Meta(description="Seed prompts, used as they are")] = []
    prompts_file: Annotated[
        str | None,
        msgspec.Meta(
            description="More seed prompts: a text file (one per line) or a data file of any lf format "
            "(the user turn of each record)"
        ),
    ] = None
    templates: Annotated[
        list[str], msgspec.Meta(description="Prompt templates with {variables}, e.g. 'Explain {topic} to a {reader}.'")
    ] = []
    variables: Annotated[
        dict[str, list[str]],
        msgspec.Meta(description="Values of each template variable; every combination is used"),
    ] = {}
    max_prompts: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None, msgspec.Meta(description="Use at most this many prompts")
    ] = None
    max_records: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Stop once the output holds this many records (earlier runs included)"),
    ] = None
    system_prompt: Annotated[
        str | None, msgspec.Meta(description="System prompt sent to the teacher and stored with each record")
    ] = None
    top_p: Annotated[Probability, msgspec.Meta(description="Nucleus sampling: keep this much probability mass")] = 1.0
    max_tokens: Annotated[int, msgspec.Meta(ge=1, description="Most tokens in one response")] = 512
    stop: Annotated[list[str], msgspec.Meta(description="Strings that end a response")] = []
    seed: Annotated[
        int, msgspec.Meta(description="Base seed; each request's seed derives from it and the prompt (reproducible)")
    ] = 0
    concurrency: Annotated[
        int, msgspec.Meta(ge=1, description="Requests in flight at once (the backend batches them)")
    ] = 8
    max_retries: Annotated[
        int,
        msgspec.Meta(ge=0, description="Retries of a failed request (backoff doubles each time) before it is recorded"),
    ] = 3
    retry_backoff_s: Annotated[float, msgspec.Meta(ge=0, description="First retry delay in seconds")] = 1.0
    max_consecutive_failures: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Stop (resumable) after this many prompts failed in a row: the teacher is down; 0: never stop",
        ),
    ] = 25
    min_length: Annotated[
        int, msgspec.Meta(ge=0, description="Drop responses shorter than this many characters (stripped)")
    ] = 10
    filter_refusals: Annotated[
        bool, msgspec.Meta(description="Drop refusals ('I'm sorry, but I can't...', 'As an AI model...')")
    ] = True
    refusal_patterns: Annotated[
        list[str],
        msgspec.Meta(
            description="More refusal patterns (case-insensitive regular expressions) beside the built-in ones"
        ),
    ] = []
    language: Annotated[
        str | None,
        msgspec.Meta(
            description="Keep only responses in this language (ISO 639-1: en, fr, de, es, it, pt, nl, ru, zh, ja, "
            "ko, ar, ...), by a small built-in detector; empty: any"
        ),
    ] = None
    dedup: Annotated[bool, msgspec.Meta(description="Drop exact duplicates (normalized text)")] = True
    near_duplicate_threshold: Annotated[
        Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] | None,
        msgspec.Meta(
            description="Drop records whose estimated Jaccard similarity (MinHash) to a kept one reaches this; "
            "empty: off"
        ),
    ] = 0.85
    overwrite: Annotated[
        bool, msgspec.Meta(description="Start over, deleting earlier output (otherwise a re-run resumes)")
    ] = False


class SyntheticConfig(_GeneratorConfig, kw_only=True, forbid_unknown_fields=True):
    """``lf generate data``: instruction / response records from a teacher model."""

    format: Annotated[
        str,
        msgspec.Meta(
            description="Record format: alpaca, sharegpt, messages, prompt-response (or a plugin's chat format)"
        ),
    ] = "alpaca"
    temperature: Annotated[Temperature, msgspec.Meta(description="Sampling temperature")] = 0.7
    samples_per_prompt: Annotated[int, msgspec.Meta(ge=1, description="Responses per prompt (each its own record)")] = 1


class PreferenceConfig(_GeneratorConfig, kw_only=True, forbid_unknown_fields=True):
    """``lf generate preferences``: prompt / chosen / rejected pairs from responses at several temperatures."""

    format: Annotated[str, msgspec.Meta(description="Record format: dpo (or a plugin's preference format)")] = "dpo"
    temperatures: Annotated[
        Annotated[list[Temperature], msgspec.Meta(min_length=2)],
        msgspec.Meta(
            description="One response per temperature; without a judge the lowest one's is chosen, "
            "the highest one's rejected"
        ),
    ] = msgspec.field(default_factory=lambda: [0.3, 0.7, 1.1])
    judge: Annotated[
        JudgeConfig | None,
        msgspec.Meta(
            description="A judge model scoring each response 1-10: best chosen, worst rejected; empty: no judge"
        ),
    ] = None
