"""``lf evaluate``: model quality checks. Only typer (already loaded by ``lf``) is imported here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from lf_evaluate.config import PerplexityResult

GROUP_HELP = (
    "Evaluate models: perplexity on held-out text, task accuracy with lm-evaluation-harness "
    "(benchmarks and comparisons plug in here too)."
)


def add_commands(app: typer.Typer) -> None:
    """Add ``perplexity`` and ``tasks`` to the shared ``lf evaluate`` group (created if missing)."""
    from lf.plugin_api import command_group
    from lf_evaluate.tasks_cli import tasks

    evaluate = command_group(app, "evaluate", help=GROUP_HELP, panel="Plugins")
    evaluate.command("perplexity")(perplexity)
    evaluate.command("tasks")(tasks)


def perplexity(
    model: str = typer.Argument(..., help="Model directory (Hugging Face format; quantized models work too)."),
    data: str | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Held-out text: a data file of any lf format (.jsonl/.json/.parquet) or a plain text file "
        "(paragraphs, or one text per line). Default: the bundled held-out set.",
    ),
    max_samples: int | None = typer.Option(None, "--max-samples", "-n", help="Use at most this many texts."),
    max_length: int | None = typer.Option(
        None, "--max-length", help="Tokens per window [default: min(1024, the model's context)]."
    ),
    stride: int | None = typer.Option(
        None, "--stride", help="Tokens the window moves per step [default: max-length / 2]."
    ),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16 or float16."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the result as JSON to this file."),
) -> None:
    """Sliding-window perplexity of MODEL on held-out text (lower is better).

    Each token is scored once with up to max-length - stride tokens of context.

    Examples:
      lf evaluate perplexity out/model --data heldout.jsonl
      lf evaluate perplexity out/model-awq --data notes.txt --max-length 512 --json
    """
    from lf.config import convert
    from lf.plugin_api import RichEvents, interruptible
    from lf_evaluate.config import PerplexityConfig
    from lf_evaluate.scoring import run

    config = convert(
        {
            "model": model,
            "data": data,
            "max_samples": max_samples,
            "max_length": max_length,
            "stride": stride,
            "dtype": dtype,
            "device": device,
        },
        PerplexityConfig,
        source="the command line",
    )
    with interruptible(), RichEvents() as events:
        result = run(config, events)
    _emit(result, output, as_json)


def _emit(result: PerplexityResult, output: Path | None, as_json: bool) -> None:
    """Write the result as JSON to ``output`` (when given), then print it as JSON or as one line."""
    import msgspec

    from lf.atomic import atomic_write_bytes
    from lf.plugin_api import console, print_json

    if output is not None:
        atomic_write_bytes(output, msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n")
    if as_json:
        print_json(result)
        return
    console().print(
        f"[bold]perplexity[/] {result.perplexity:.4f}   (mean NLL {result.nll:.4f} over {result.tokens:,} tokens, "
        f"{result.texts} texts, {result.windows} windows of {result.max_length} / stride {result.stride}, "
        f"{result.seconds:.1f} s)"
    )
