"""``lf run KIND --plugin NAME``: the one generic runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from lf.components import KINDS

RUNNABLE = [name for name, kind in KINDS.items() if kind.runner]


def run(
    kind: str = typer.Argument(..., help=f"What to run: {', '.join(RUNNABLE)}."),
    plugin: str = typer.Option(..., "--plugin", "-p", help="The component to run (see `lf plugins`)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or JSON config file."),
    set_: list[str] | None = typer.Option(
        None, "--set", "-s", help="Override one option, e.g. --set lora.r=16 (repeatable)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit without running."),
) -> None:
    """Run a component: train a model, start a server, quantize, generate data.

    Examples:
      lf run train --plugin sft --config sft.yaml --set output_dir=out/
      lf run serve --plugin hf --set model=out/ --set port=8000

    Options come from the config file, then LF_<NAME>_<OPTION> environment variables,
    then --set (the last one wins). `lf config show KIND NAME` prints every option.
    """
    execute(kind, plugin, config=config, overrides=set_ or [], dry_run=dry_run)


def execute(
    kind: str,
    name: str,
    *,
    config: Path | None,
    overrides: list[str],
    flags: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> None:
    """Shared by ``lf run`` and the friendly commands."""
    from lf.cli.console import RichEvents, console, interruptible, print_result
    from lf.runner import resolve, run_component

    config_file = str(config) if config else None
    if dry_run:
        from lf.config import to_yaml

        _, cfg = resolve(kind, name, config_file=config_file, overrides=overrides, flags=flags)
        console().print(to_yaml(cfg) if cfg is not None else "# (no options)", markup=False, highlight=False)
        return
    with interruptible(), RichEvents() as events:
        result = run_component(kind, name, config_file=config_file, overrides=overrides, flags=flags, events=events)
    print_result(result)
