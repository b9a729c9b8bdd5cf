"""``lf merge lora`` and ``lf data preview`` (added through ``register_commands``).

Only typer is imported here; each command imports torch and friends when it runs.
"""

from __future__ import annotations

from pathlib import Path

import typer


def add_commands(app: typer.Typer) -> None:
    """Add ``merge lora`` (a new shared ``merge`` group) and ``data preview`` to ``app``."""
    from lf.plugin_api import command_group

    merge = command_group(app, "merge", help="Merge adapters into their base models.", panel="Plugins")
    merge.command("lora")(merge_lora_cmd)
    data = command_group(app, "data")
    data.command("preview")(preview_cmd)


def merge_lora_cmd(
    base: str = typer.Argument(..., help="The base model (directory, or a shorthand such as smollm2)."),
    adapter: Path = typer.Argument(..., help="The LoRA adapter directory (an `lf train sft` output)."),
    out: Path = typer.Argument(..., help="Where the merged model goes (created atomically)."),
    dtype: str = typer.Option("auto", "--dtype", help="float32, bfloat16, float16, or auto (the base's dtype)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the logits check against base + adapter."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Merge a LoRA adapter into its base: a plain model directory with tokenizer and chat template.

    The adapter is checked against BASE first (shapes, quantization); the merged logits are
    compared with base + adapter on a few prompts before OUT is kept.

    Example: lf merge lora smollm2 runs/sft-smollm2 runs/sft-smollm2-merged --dtype bfloat16
    """
    from lf.errors import ConfigError
    from lf.plugin_api import info, print_result
    from lf_trainer_sft.merge import TOLERANCE, merge_lora

    if dtype != "auto" and dtype not in TOLERANCE:
        raise ConfigError(f"--dtype must be auto, {', '.join(TOLERANCE)}; found {dtype!r}.")
    result = merge_lora(base, str(adapter), str(out), dtype=dtype, verify=not no_verify, overwrite=overwrite, say=info)
    info(f"[green]ok[/]: {result.summary}")
    print_result(result)


def preview_cmd(
    file: Path = typer.Argument(..., help="A .jsonl, .json or .parquet chat data file."),
    tokenizer: str = typer.Option(..., "--tokenizer", "-t", help="Model or tokenizer directory (or a shorthand)."),
    n: int = typer.Option(3, "--n", "-n", help="How many records to show."),
    max_length: int = typer.Option(2048, "--max-length", help="Truncate like the trainer does."),
    train_on: str = typer.Option("assistant", "--train-on", help="assistant (default) or all."),
    format: str | None = typer.Option(None, "--format", "-f", help="Force a data format."),
    chat_template: str | None = typer.Option(None, "--chat-template", help="Override the chat template (.jinja)."),
) -> None:
    """Show records as the sft trainer sees them, trained tokens marked «like this».

    The way to catch a masking problem before paying for a run: every assistant reply and
    its end-of-turn token should be inside «», nothing else.
    """
    from itertools import islice

    from rich.markup import escape

    from lf.data import check_for_training, iter_normalized
    from lf.errors import ConfigError
    from lf.models import resolve_model
    from lf.plugin_api import console
    from lf_trainer_sft.chat import IGNORE, encode_chat, preview_segments
    from lf_trainer_sft.models import load_tokenizer

    if train_on not in ("assistant", "all"):
        raise ConfigError(f"--train-on must be assistant or all, found {train_on!r}.")
    report = check_for_training(file, "chat", format)
    tok = load_tokenizer(resolve_model(tokenizer), chat_template)
    con = console()
    con.print(f"[bold]{escape(str(file))}[/]: {report.valid} valid {report.format} records; trained tokens «marked»")
    for i, record in enumerate(islice(iter_normalized(file, "chat", format), n), start=1):
        encoded = encode_chat(tok, record["messages"], max_length=max_length, train_on=train_on)
        trained = sum(1 for label in encoded["labels"] if label != IGNORE)
        con.rule(f"record {i}: {len(encoded['input_ids'])} tokens, {trained} trained")
        parts = []
        for text, flag in preview_segments(tok, encoded):
            parts.append(f"[bold green]«{escape(text)}»[/]" if flag else f"[dim]{escape(text)}[/]")
        con.print("".join(parts), soft_wrap=True, highlight=False)
