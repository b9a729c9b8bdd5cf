"""``lf expert``: add, remove, list and show the experts a router sends queries to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lf.cli.base import new_typer

if TYPE_CHECKING:
    from lf.experts import ExpertConfig, ExpertManager

app = new_typer(
    "Manage the expert registry routers share: add, remove, list, show, import.\n\n"
    "The registry is --registry, else $LF_EXPERTS_FILE, else ~/.cache/largeforge/experts.yaml: "
    "a YAML file (one machine, or a shared volume), or Redis (redis://HOST:6379/0, for routers "
    "on several machines). Changes are atomic (safe to run in parallel) and replaced definitions "
    "are kept (the .history.jsonl file beside a file; a list in Redis)."
)

REGISTRY_HELP = (
    "The registry: a YAML file or redis://HOST:PORT/DB (default: $LF_EXPERTS_FILE or ~/.cache/largeforge/experts.yaml)."
)


def _registry_option() -> Any:
    return typer.Option(None, "--registry", "-r", envvar="LF_EXPERTS_FILE", help=REGISTRY_HELP, show_envvar=False)


def _manager(registry: str | None) -> ExpertManager:
    from lf.experts import ExpertManager, default_registry

    return ExpertManager(registry or default_registry())


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Expert name (what clients send as `model`): letters, digits, . _ -"),
    description: str = typer.Option("", "--description", "-d", help="What the expert is good at, in a sentence."),
    keywords: list[str] = typer.Option(
        [], "--keywords", "-k", help="Comma-separated words or phrases; 'word^2' weighs 2, '/regex/' is a pattern."
    ),
    endpoints: list[str] = typer.Option(
        [], "--endpoint", "-e", help="Base URL of a replica (repeat for several replicas)."
    ),
    domains: list[str] = typer.Option([], "--domains", help="Comma-separated domains (for `lf expert list --domain`)."),
    examples: list[str] = typer.Option([], "--example", help="An example query it should receive (repeatable)."),
    model_path: str | None = typer.Option(None, "--model-path", help="Merged model directory or hub id."),
    base_model: str | None = typer.Option(None, "--base-model", help="Base model when serving an adapter."),
    adapter_path: str | None = typer.Option(None, "--adapter-path", help="LoRA adapter on top of --base-model."),
    quantization: str | None = typer.Option(None, "--quantization", help="awq, gptq, nf4, int8, ..."),
    priority: int = typer.Option(0, "--priority", help="Higher wins ties and lists first."),
    max_tokens: int = typer.Option(2048, "--max-tokens", help="Default max_tokens of its requests."),
    temperature: float = typer.Option(0.7, "--temperature", help="Default sampling temperature."),
    disabled: bool = typer.Option(False, "--disabled", help="Register it, but do not route to it yet."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing expert of that name (new version)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored expert as JSON."),
    registry: str | None = _registry_option(),
) -> None:
    """Add an expert (or, with --replace, a new version of one).

    Example: lf expert add code --description "Programming help" --keywords python,bug,"stack trace"
    --endpoint http://127.0.0.1:8001
    """
    from lf.cli.console import info, print_json
    from lf.experts import ExpertConfig
    from lf.experts.config import split_list
    from lf.experts.store import to_json

    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "domains": split_list(domains),
        "keywords": split_list(keywords),
        "examples": [e for e in examples if e.strip()],
        "model_path": model_path,
        "base_model": base_model,
        "adapter_path": adapter_path,
        "quantization": quantization,
        "endpoints": [e.strip() for e in endpoints if e.strip()],
        "priority": priority,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "enabled": not disabled,
    }
    expert = ExpertConfig.from_dict(data, source="lf expert add")
    manager = _manager(registry)
    stored = manager.register_expert(expert, replace=replace)
    if as_json:
        print_json(to_json(stored))
    else:
        verb = "added" if stored.version == 1 else "stored"
        info(f"{verb} expert [bold]{stored.name}[/] (version {stored.version}) in {manager.location}")


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The expert to remove (its definition stays in the history)."),
    registry: str | None = _registry_option(),
) -> None:
    """Remove an expert from the registry."""
    from lf.cli.console import info

    manager = _manager(registry)
    removed = manager.unregister_expert(name)
    info(f"removed expert [bold]{removed.name}[/] (version {removed.version}) from {manager.location}")


@app.command("list")
def list_experts(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable: a JSON list of experts."),
    domain: str | None = typer.Option(None, "--domain", help="Only experts covering this domain."),
    registry: str | None = _registry_option(),
) -> None:
    """List the registered experts (highest priority first)."""
    from lf.cli.console import console, print_json
    from lf.experts.store import to_json

    manager = _manager(registry)
    experts = manager.list_experts(domain=domain)
    if as_json:
        print_json([to_json(e) for e in experts])
        return
    con = console()
    if not experts:
        where = f" in domain '{domain}'" if domain else ""
        con.print(f"No experts{where} in {manager.location}. Add one with `lf expert add NAME --description ...`.")
        return
    _print_table(con, experts)


def _print_table(con: Any, experts: list[ExpertConfig]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("name", "ver", "pri", "state", "domains", "endpoints", "description"):
        table.add_column(column, overflow="fold")
    for e in experts:
        table.add_row(
            escape(e.name),
            str(e.version),
            str(e.priority),
            "enabled" if e.enabled else "[dim]disabled[/]",
            escape(", ".join(e.domains)),
            escape(", ".join(e.urls)) or "[dim]-[/]",
            escape(e.description[:60] + ("..." if len(e.description) > 60 else "")),
        )
    con.print(table)


@app.command("import")
def import_experts(
    source: Path = typer.Argument(..., help="A registry YAML file (what `lf expert add` writes, or by hand)."),
    replace: bool = typer.Option(False, "--replace", help="Also replace experts that exist already (new versions)."),
    registry: str | None = _registry_option(),
) -> None:
    """Copy the experts of a YAML file into the registry (e.g. a file registry into Redis).

    Experts the registry has already are kept unless --replace; the change is one atomic
    update. Example: lf expert import experts.yaml --registry redis://redis:6379/0
    """
    from lf.cli.console import info
    from lf.errors import ConfigError
    from lf.experts import ExpertManager

    if not source.is_file():
        raise ConfigError(f"{source} is not a file.", hint="Give a registry YAML file.")
    experts = ExpertManager(source).list_experts()
    manager = _manager(registry)
    added, kept = manager.import_experts(experts, replace=replace)
    skipped = f"; kept {len(kept)} already there ({', '.join(kept)}: --replace to overwrite)" if kept else ""
    info(f"imported {len(added)} expert{'s' if len(added) != 1 else ''} into {manager.location}{skipped}")


@app.command("show")
def show(
    name: str = typer.Argument(..., help="The expert to show."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    history: bool = typer.Option(False, "--history", help="Also list its previous versions."),
    registry: str | None = _registry_option(),
) -> None:
    """Show one expert's full definition (and, with --history, its earlier versions)."""
    from lf.cli.console import console, print_json
    from lf.experts.store import to_json

    manager = _manager(registry)
    expert = manager.require(name)
    versions = manager.history(name) if history else []
    if as_json:
        data = to_json(expert)
        if history:
            data["history"] = [
                {"version": v.version, "change": v.change, "at": v.at, "expert": to_json(v.expert)} for v in versions
            ]
        print_json(data)
        return
    import yaml
    from rich.markup import escape

    con = console()
    con.print(escape(yaml.safe_dump(expert.to_dict(), sort_keys=False, allow_unicode=True, width=100)).rstrip())
    if history:
        con.print(f"[bold]history[/] ({len(versions)} earlier version{'s' if len(versions) != 1 else ''})")
        for v in versions:
            con.print(f"  version {v.version}  {v.change} {v.at}  {escape(v.expert.description[:60])}")
