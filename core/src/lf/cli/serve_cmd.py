"""``lf serve inference --backend hf|vllm``: the requirements' name for ``lf run serve --plugin NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lf.cli.friendly import group


def inference(
    backend: str = typer.Option("hf", "--backend", "-b", help="The serving backend (see `lf plugins`): hf, vllm..."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model directory or hub id."),
    host: str | None = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, "--port", help="TCP port [default: 8000]."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or JSON config file."),
    set_: list[str] | None = typer.Option(
        None, "--set", "-s", help="Override one option, e.g. --set limits.max_queued_requests=64."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
) -> None:
    """Start the OpenAI-compatible inference server (same as `lf run serve --plugin BACKEND`).

    Example: lf serve inference --backend hf --model "$(lf models fetch)" --port 8000
    """
    from lf.cli.run_cmd import execute

    flags: dict[str, Any] = {k: v for k, v in {"model": model, "host": host, "port": port}.items() if v is not None}
    execute("serve", backend, config=config, overrides=list(set_ or []), flags=flags, dry_run=dry_run)


def add_commands(app: typer.Typer) -> None:
    """Add ``inference`` to the ``serve`` group (created if no backend is installed)."""
    sub = group(app, "serve", help="Inference backends for the OpenAI-compatible server.")
    sub.command("inference")(inference)
