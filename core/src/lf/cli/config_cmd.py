"""``lf config``: print a component's options as commented YAML, check a config file."""

from __future__ import annotations

from pathlib import Path

import typer

from lf.cli.base import new_typer

app = new_typer("Show and check component configs.")


@app.command("show")
def show(
    kind: str = typer.Argument(..., help="train, serve, quantize, generate, route."),
    name: str = typer.Argument(..., help="The component, e.g. sft."),
) -> None:
    """Print every option with its default and description - a config file to start from.

    Example: lf config show train sft > sft.yaml
    """
    import sys

    from lf.config import config_template
    from lf.plugins import get_registry

    registry = get_registry()
    spec = registry.get(kind, name)
    config_type = registry.config_type(spec)
    if config_type is None:
        sys.stdout.write(f"# {kind} component '{name}' has no options\n")
        return
    sys.stdout.write(config_template(config_type, f"{kind} '{name}' ({spec.package} {spec.version}): {spec.summary}"))


@app.command("check")
def check(
    kind: str = typer.Argument(..., help="train, serve, quantize, generate, route."),
    name: str = typer.Argument(..., help="The component, e.g. sft."),
    file: Path = typer.Argument(..., help="The YAML or JSON config file."),
    set_: list[str] | None = typer.Option(None, "--set", "-s", help="Overrides to apply, as in `lf run`."),
) -> None:
    """Validate a config file with every check the run makes, without running anything; prints the resolved config."""
    from lf.cli.console import console
    from lf.config import to_yaml
    from lf.runner import resolve

    _, cfg = resolve(kind, name, config_file=str(file), overrides=set_ or [])
    console(stderr=True).print(f"[green]ok[/]: {file} is a valid {kind} '{name}' config")
    if cfg is not None:
        console().print(to_yaml(cfg, redact_secrets=True), markup=False, highlight=False)
