"""``lf evaluate tasks``: only typer (already loaded by ``lf``) is imported here; lm-eval loads when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lf_evaluate.config import TasksResult

_Model = Annotated[
    str,
    typer.Argument(
        help="A model directory or shorthand (tiny, smollm2, a hub id), or the http(s):// URL of an "
        "OpenAI-compatible endpoint (lf serve hf, the router, vLLM)."
    ),
]
_Tasks = Annotated[
    str,
    typer.Option(
        "--tasks",
        "-t",
        help="Comma-separated: shipped tasks (lf_facts_mc, lf_facts_letter, lf_short_qa; offline), task YAML "
        "files or folders, or lm-eval's catalogue (mmlu, gsm8k, hellaswag...: their data needs the Hugging Face Hub).",
    ),
]
_Limit = Annotated[int | None, typer.Option("--limit", "-n", help="Use at most this many items per task.")]
_Fewshot = Annotated[int | None, typer.Option("--num-fewshot", help="Few-shot examples [default: the task's].")]
_Batch = Annotated[int, typer.Option("--batch-size", help="Items per forward pass (local model).")]
_Concurrency = Annotated[int, typer.Option("--concurrency", help="Requests in flight (endpoint).")]
_Served = Annotated[str | None, typer.Option("--served-model", help="Model name at the endpoint [default: its first].")]
_KeyEnv = Annotated[str | None, typer.Option("--api-key-env", help="Environment variable holding the endpoint's key.")]
_Tokenizer = Annotated[
    str | None,
    typer.Option("--tokenizer", help="Tokenizer for log-likelihood tasks on an endpoint that returns prompt logprobs."),
]
_Revision = Annotated[str | None, typer.Option("--revision", help="Branch, tag or commit of a hub model.")]
_Dtype = Annotated[str, typer.Option("--dtype", help="auto, float32, bfloat16 or float16 (local model).")]
_Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N (local model).")]
_Seed = Annotated[int, typer.Option("--seed", help="Seed of every random choice (few-shot sampling included).")]
_Samples = Annotated[bool, typer.Option("--samples", help="Keep every item's answer and score in the JSON.")]
_Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
_Output = Annotated[Path | None, typer.Option("--output", "-o", help="Also write the result as JSON to this file.")]


def tasks(
    model: _Model,
    task_names: _Tasks,
    limit: _Limit = None,
    num_fewshot: _Fewshot = None,
    batch_size: _Batch = 8,
    concurrency: _Concurrency = 4,
    served_model: _Served = None,
    api_key_env: _KeyEnv = None,
    tokenizer: _Tokenizer = None,
    revision: _Revision = None,
    dtype: _Dtype = "auto",
    device: _Device = "auto",
    seed: _Seed = 1234,
    samples: _Samples = False,
    as_json: _Json = False,
    output: _Output = None,
) -> None:
    """Task accuracy with lm-evaluation-harness, on a local model or an OpenAI-compatible endpoint.

    Multiple-choice tasks (lf_facts_mc, mmlu, hellaswag...) are scored by log-likelihood:
    a local model always works; an endpoint must return prompt log-probabilities (vLLM
    does, lf serve does not - use lf_facts_letter, the same questions answered
    generatively). Generative tasks (lf_short_qa, lf_facts_letter, gsm8k) work everywhere.
    lm-eval's catalogue tasks download their data from the Hugging Face Hub.

    Examples:
      lf evaluate tasks "$(lf models fetch)" --tasks lf_facts_mc,lf_short_qa
      lf evaluate tasks http://127.0.0.1:8000 --tasks lf_short_qa,lf_facts_letter
      lf evaluate tasks runs/sft/merged --tasks my_tasks/ --json -o scores.json
      lf evaluate tasks meta-llama/Llama-3.2-1B --tasks mmlu,gsm8k --revision main   (needs the hub)
    """
    from lf.config import convert
    from lf.plugin_api import RichEvents, interruptible
    from lf_evaluate.config import TasksConfig
    from lf_evaluate.harness import run_tasks

    config = convert(
        {
            "model": model,
            "tasks": [t for t in task_names.split(",") if t.strip()],
            "limit": limit,
            "num_fewshot": num_fewshot,
            "batch_size": batch_size,
            "concurrency": concurrency,
            "served_model": served_model,
            "api_key_env": api_key_env,
            "tokenizer": tokenizer,
            "model_revision": revision,
            "dtype": dtype,
            "device": device,
            "seed": seed,
            "samples": samples,
        },
        TasksConfig,
        source="the command line",
    )
    with interruptible(), RichEvents() as events:
        result = run_tasks(config, events)
    emit(result, output, as_json)


def emit(result: TasksResult, output: Path | None, as_json: bool) -> None:
    """Write the JSON (when asked), then print JSON or a table of every task's metrics."""
    import msgspec
    from rich.table import Table

    from lf.atomic import atomic_write_bytes
    from lf.plugin_api import console, print_json

    if output is not None:
        atomic_write_bytes(output, msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n")
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{result.model} ({result.source}, {result.seconds:.1f} s)")
    for column in ("task", "metric", "filter", "value", "± stderr", "items"):
        table.add_column(column, justify="left" if column in ("task", "metric", "filter") else "right")
    for s in result.scores:
        stderr = f"{s.stderr:.4f}" if s.stderr is not None else "-"
        table.add_row(s.task, s.metric, s.filter, f"{s.value:.4f}", stderr, str(s.items))
    console().print(table)
