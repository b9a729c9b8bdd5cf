"""``lf serve inference [--backend hf|vllm]``: the requirements' name for ``lf run serve --plugin NAME``.

Without ``--backend`` the backend is chosen for the model (:mod:`lf.serve.select`): vLLM
when it is importable and supports the model, else hf; the first line printed says which
and why, and a vLLM that then fails to start hands over to hf (logged). A backend named
with ``--backend`` never falls back: its failure is the command's error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lf.cli.friendly import group


def inference(
    backend: str | None = typer.Option(
        None,
        "--backend",
        "-b",
        help="The serving backend (see `lf plugins`): hf, vllm... [default: vllm if it can serve the model, else hf].",
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model directory or hub id."),
    host: str | None = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, "--port", help="TCP port [default: 8000]."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or JSON config file."),
    set_: list[str] | None = typer.Option(
        None, "--set", "-s", help="Override one option, e.g. --set limits.max_queued_requests=64."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Choose the backend, print the resolved config and exit."),
) -> None:
    """Start the OpenAI-compatible inference server (same as `lf run serve --plugin BACKEND`).

    Without --backend: vLLM when it is importable and supports the model, else hf (the
    first line says which and why); if vLLM then fails to start, hf takes over.

    Example: lf serve inference --model "$(lf models fetch)" --port 8000
    """
    from rich.markup import escape

    from lf.cli.console import info, warn

    flags: dict[str, Any] = {k: v for k, v in {"model": model, "host": host, "port": port}.items() if v is not None}
    overrides = list(set_ or [])
    choice = _choose(backend, flags, overrides, config)
    info(escape(choice.line))
    while True:
        try:
            _serve(choice.name, config, overrides, flags, dry_run)
            return
        except Exception as exc:
            nxt = _after_failure(choice, exc)
            if nxt is None:
                raise
            choice = nxt
            warn(escape(choice.line))


def _choose(backend: str | None, flags: dict[str, Any], overrides: list[str], config: Path | None) -> Any:
    """The backend named with --backend, or the one chosen for the model."""
    from lf.errors import ConfigError
    from lf.serve.select import BackendChoice, choose_backend, local_model, model_to_check

    wanted = model_to_check(flags, overrides, str(config) if config else None)
    if backend is not None:
        return BackendChoice(name=backend, model=wanted or "", auto=False, reason="chosen with --backend")
    if wanted is None:
        raise ConfigError(
            "lf serve inference needs a model to choose its backend.",
            hint="Pass --model DIR (or --backend hf|vllm with the model in --config / --set model=...).",
        )
    return choose_backend(local_model(wanted))


def _serve(name: str, config: Path | None, overrides: list[str], flags: dict[str, Any], dry_run: bool) -> None:
    from lf.cli.run_cmd import execute

    execute("serve", name, config=config, overrides=overrides, flags=flags, dry_run=dry_run)


def _after_failure(choice: Any, exc: BaseException) -> Any:
    """The next backend after a failed start of an auto-selected one; a named one gets a clearer error instead."""
    from lf.serve.select import PREFERENCE, BackendStartError, fallback_after

    later = PREFERENCE[PREFERENCE.index(choice.name) + 1 :] if choice.name in PREFERENCE else ()
    if isinstance(exc, BackendStartError) and not choice.auto and later:
        exc.hint = (exc.hint or "") + (
            f" It was named with --backend, so no other backend was tried (without --backend, {later[0]} would be)."
        )
    return fallback_after(choice, exc)


def add_commands(app: typer.Typer) -> None:
    """Add ``inference`` to the ``serve`` group (created if no backend is installed)."""
    sub = group(app, "serve", help="Inference backends for the OpenAI-compatible server.")
    sub.command("inference")(inference)
