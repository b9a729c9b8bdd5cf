"""``lf plugin new``: start a plugin package from a working template."""

from __future__ import annotations

from pathlib import Path

import typer

from lf.cli.base import new_typer

app = new_typer("Write your own plugins (see also `lf plugins` for what is installed).")


@app.command("new")
def new(
    kind: str = typer.Argument(..., help="train, quantize, generate, format or route (a router classifier)."),
    name: str = typer.Argument(..., help="The component name users will type, e.g. kto."),
    directory: Path = typer.Option(Path("."), "--dir", "-d", help="Where to create the package directory."),
    summary: str | None = typer.Option(None, "--summary", help="One line shown by `lf plugins`."),
) -> None:
    """Write a plugin package that installs and passes its tests as generated.

    Example: lf plugin new train kto && pip install -e lf-trainer-kto && pytest lf-trainer-kto
    """
    from lf.cli.console import console
    from lf.scaffold import new_plugin

    target = new_plugin(kind, name, directory, summary=summary)
    console().print(f"created [bold]{target}[/]")
    console().print(f"next: pip install -e {target} && lf plugins && pytest {target}")
