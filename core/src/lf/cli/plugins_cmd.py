"""``lf plugins``: what is installed, what it provides, and what failed to load."""

from __future__ import annotations

from typing import Any

import typer


def plugin_rows(registry: Any) -> list[dict[str, Any]]:
    """One mapping per plugin: package, version, hooks, components, status, error."""
    by_plugin: dict[str, list[dict[str, str]]] = {}
    for kind in registry.components:
        for spec in registry.specs(kind):
            by_plugin.setdefault(spec.plugin, []).append({"kind": kind, "name": spec.name, "summary": spec.summary})
    rows = []
    for info in registry.iter_plugins():
        rows.append(
            {
                "plugin": info.name,
                "package": info.package,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": info.hooks,
                "components": by_plugin.get(info.name, []),
                "status": "ok" if info.ok else "error",
                "error": info.error,
            }
        )
    return rows


def plugins(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List installed plugins: package, version, components by kind, and load errors.

    A plugin that fails to import is listed with its error; everything else keeps working.
    Limit what loads with LF_PLUGINS=name,name (LF_PLUGINS= loads none).
    """
    from lf.cli.console import console, print_json
    from lf.plugins import get_registry

    registry = get_registry()
    rows = plugin_rows(registry)
    if as_json:
        print_json({"plugins": rows, "problems": registry.problems})
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Installed LargeForge plugins", title_justify="left")
    for column in ("package", "version", "kind", "components", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        kinds: dict[str, list[str]] = {}
        for c in row["components"]:
            kinds.setdefault(c["kind"], []).append(c["name"])
        kind_text = "\n".join(kinds) or "-"
        names = "\n".join(", ".join(v) for v in kinds.values()) or ("(commands/hooks)" if row["hooks"] else "-")
        status = "[green]ok[/]" if row["status"] == "ok" else f"[red]error[/]: {escape(row['error'] or '')}"
        table.add_row(escape(row["package"]), row["version"], kind_text, escape(names), status)
    console().print(table)
    for problem in registry.problems:
        console().print(f"[yellow]problem:[/] {escape(problem)}")
