"""Options and results of ``lf evaluate`` (this module imports only msgspec)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class PerplexityConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What ``lf evaluate perplexity`` measures, and how."""

    model: Annotated[str, msgspec.Meta(description="Model directory (Hugging Face format, quantized or not)")]
    data: Annotated[
        str | None,
        msgspec.Meta(
            description="Held-out text: a data file of any lf format (.jsonl/.json/.parquet) or a plain text file "
            "(paragraphs separated by blank lines, else one text per line); empty: the bundled held-out set"
        ),
    ] = None
    max_samples: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Use at most this many texts (records) of the data"),
    ] = None
    max_length: Annotated[
        Annotated[int, msgspec.Meta(ge=8)] | None,
        msgspec.Meta(description="Tokens per window; empty: min(1024, the model's context length)"),
    ] = None
    stride: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(
            description="Tokens the window moves each step (each token is scored once, with up to "
            "max_length - stride tokens of context); empty: max_length / 2",
        ),
    ] = None
    dtype: Annotated[
        Literal["auto", "float32", "bfloat16", "float16"],
        msgspec.Meta(description="Compute precision of unquantized weights; auto: float32 on CPU, the model's on GPU"),
    ] = "auto"
    device: Annotated[str, msgspec.Meta(description="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")] = (
        "auto"
    )


class PerplexityResult(msgspec.Struct, kw_only=True):
    """A perplexity measurement: ``exp`` of the mean negative log-likelihood per scored token."""

    model: str
    perplexity: float
    nll: float
    tokens: int
    windows: int
    texts: int
    max_length: int
    stride: int
    data: str = "(bundled held-out set)"
    seconds: float = 0.0


class TasksConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What ``lf evaluate tasks`` runs: lm-evaluation-harness tasks on a model or an endpoint."""

    model: Annotated[
        str,
        msgspec.Meta(
            description="A model directory or shorthand (tiny, smollm2, a hub id), evaluated in this process, "
            "or the http(s):// URL of an OpenAI-compatible endpoint (lf serve, the router, vLLM...)"
        ),
    ]
    tasks: Annotated[
        list[str],
        msgspec.Meta(
            min_length=1,
            description="Shipped tasks (lf_facts_mc, lf_facts_letter, lf_short_qa), task YAML files or folders, "
            "or lm-eval's own task names (mmlu, gsm8k, hellaswag...: their data comes from the Hugging Face Hub)",
        ),
    ]
    limit: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None, msgspec.Meta(description="Use at most this many items per task")
    ] = None
    num_fewshot: Annotated[
        Annotated[int, msgspec.Meta(ge=0)] | None,
        msgspec.Meta(description="Few-shot examples per prompt; empty: each task's own setting (0 for ours)"),
    ] = None
    batch_size: Annotated[int, msgspec.Meta(ge=1, description="Requests per forward pass (local models)")] = 8
    concurrency: Annotated[int, msgspec.Meta(ge=1, description="Requests in flight (endpoints)")] = 4
    served_model: Annotated[
        str | None, msgspec.Meta(description="Model name at the endpoint; empty: its first model in /v1/models")
    ] = None
    api_key_env: Annotated[
        str | None, msgspec.Meta(description="Environment variable holding the endpoint's API key")
    ] = None
    tokenizer: Annotated[
        str | None,
        msgspec.Meta(
            description="Tokenizer (directory or shorthand) for log-likelihood tasks on an endpoint that returns "
            "prompt log-probabilities"
        ),
    ] = None
    model_revision: Annotated[
        str | None, msgspec.Meta(description="Branch, tag or commit of a hub model (passed to from_pretrained)")
    ] = None
    dtype: Annotated[
        Literal["auto", "float32", "bfloat16", "float16"],
        msgspec.Meta(description="Weights dtype of a local model; auto: float32 on CPU, bfloat16 on a capable GPU"),
    ] = "auto"
    device: Annotated[str, msgspec.Meta(description="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")] = (
        "auto"
    )
    seed: Annotated[int, msgspec.Meta(ge=0, description="Seed of Python, numpy, torch and few-shot sampling")] = 1234
    samples: Annotated[bool, msgspec.Meta(description="Keep every item's prompt, answer and score in the result")] = (
        False
    )


class TaskScore(msgspec.Struct, kw_only=True):
    """One metric of one task (``stderr`` is None when lm-eval did not estimate it)."""

    task: str
    metric: str
    value: float
    stderr: float | None = None
    filter: str = "none"
    items: int = 0
    higher_is_better: bool = True


class TaskSample(msgspec.Struct, kw_only=True):
    """One item of a task: what the model answered and its score on the task's first metric.

    ``response`` is what was scored (a generated answer after the task's filters; for a
    multiple-choice item, the index of the most likely choice); ``raw`` is the generated text
    before the filters (empty for multiple-choice items).
    """

    doc_id: int
    target: str
    response: str
    score: float
    raw: str = ""


class TasksResult(msgspec.Struct, kw_only=True):
    """Scores of a model on lm-evaluation-harness tasks."""

    model: str
    source: Literal["local", "endpoint"]
    scores: list[TaskScore]
    samples: dict[str, list[TaskSample]] = {}
    settings: dict[str, object] = {}
    seconds: float = 0.0

    def primary(self) -> dict[str, float]:
        """The first metric of each task (``acc`` of a multiple-choice task, ``exact_match`` of a generative one)."""
        out: dict[str, float] = {}
        for score in self.scores:
            out.setdefault(score.task, score.value)
        return out
