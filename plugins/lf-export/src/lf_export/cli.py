"""``lf export``: only typer (already loaded by ``lf``) is imported here; the command imports the rest."""

from __future__ import annotations

from pathlib import Path

import typer

TYPE_HELP = "Tensor type: f16 (default), bf16, f32, q8_0, q5_1, q5_0, q4_1, q4_0 (norms stay f32)."


def add_commands(app: typer.Typer) -> None:
    """Add ``gguf`` to the ``lf export`` group (created if missing)."""
    from lf.plugin_api import command_group

    export = command_group(app, "export", help="Export models for other runtimes (GGUF for llama.cpp / Ollama).")
    export.command("gguf")(gguf)


def gguf(
    model: str = typer.Argument(..., help="Model directory (Hugging Face format) or a shorthand (smollm2, tiny)."),
    out: Path = typer.Argument(..., help="The .gguf file to write (atomically)."),
    type: str = typer.Option("f16", "--type", "-t", help=TYPE_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write MODEL as one GGUF file for llama.cpp and Ollama, chat template and stop tokens included.

    Llama (Llama-3, SmolLM2), Mistral, Qwen2, Gemma-2 and Phi-3 models; no llama.cpp build needed.
    A LoRA adapter must be merged first (lf merge lora).

    Examples:
      lf export gguf "$(lf models fetch)" smollm2.q8_0.gguf --type q8_0
      lf export gguf runs/merged model.f16.gguf
    """
    from lf.plugin_api import RichEvents, info, interruptible, print_result
    from lf_export.gguf_export import export_gguf

    with interruptible(), RichEvents() as events:
        result = export_gguf(model, out, type=type, overwrite=overwrite, events=events)
    info(f"[green]ok[/]: {result.summary}")
    print_result(result)
