"""The friendly command tree (``lf train sft``, ``lf quantize awq MODEL OUT``...).

Generated from the registry, so it is the same code path as ``lf run KIND --plugin NAME``:
each component of a runnable kind becomes a command whose options are its config's
top-level fields (``--learning-rate``), plus ``--config FILE`` and ``--set a.b=c``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from lf.cli.base import new_typer
from lf.components import KINDS, ComponentSpec

_RESERVED = {"config", "set", "dry_run", "help", "plugin"}
_SCALARS = {"str": str, "int": int, "float": float, "bool": bool}


def group(app: typer.Typer, name: str, *, help: str = "", panel: str | None = None) -> typer.Typer:
    """The sub-app ``name`` of ``app``, created if missing - so plugins can add to shared groups."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    sub = new_typer(help)
    app.add_typer(sub, name=name, rich_help_panel=panel)
    return sub


def add_job_groups(app: typer.Typer, registry: Any, *, panel: str, path: list[str] | None = None) -> None:
    """One group per runnable kind (train, serve, quantize, generate...) with a command per component.

    ``path`` is the command line being run (its words that are not options). Building a
    command's options means inspecting its config Struct, which costs milliseconds per
    component; only the command being run gets them. ``None`` builds everything (docs).
    """
    for kind in KINDS.values():
        if kind.name == "format":
            continue
        sub = group(
            app, kind.verb, help=f"{kind.description}. Same as `lf run {kind.name} --plugin NAME`.", panel=panel
        )
        if path is not None and path[:1] != [kind.verb]:
            continue  # another group runs: its commands are never looked at
        for spec in registry.specs(kind.name):
            if registry.runner_of(spec):
                names = (spec.name, *spec.aliases)
                full = path is None or (len(path) > 1 and path[1] in names)
                _add_commands(sub, spec, registry, full=full)


def _add_commands(sub: typer.Typer, spec: ComponentSpec, registry: Any, *, full: bool = True) -> None:
    """The command (and aliases) of one component; a broken config Struct is reported, never fatal.

    Without ``full`` the command has no options: enough for a group's listing.
    """
    try:
        command = make_command(spec, registry.config_type(spec)) if full else _listing_only(spec)
    except Exception as exc:  # e.g. a config type msgspec cannot describe
        registry.report_problem(f"{spec.kind} '{spec.name}' ({spec.package}): no command: {type(exc).__name__}: {exc}")
        return
    for name in (spec.name, *spec.aliases):
        sub.command(name, help=_help(spec, alias_of=None if name == spec.name else spec.name))(command)


def _listing_only(spec: ComponentSpec) -> Any:
    def command() -> None:
        """Listed in its group's help; built with its options only when it runs."""

    command.__name__ = spec.name.replace("-", "_")
    return command


def _help(spec: ComponentSpec, alias_of: str | None) -> str:
    text = f"{spec.summary} [{spec.package}]"
    if alias_of:
        text = f"Same as `{alias_of}`. " + text
    return (
        f"{text}\n\nOptions come from --config FILE, then LF_{spec.name.upper().replace('-', '_')}_* variables, "
        f"then --set key=value and the flags below. Start a config with `lf config show {spec.kind} {spec.name}`."
    )


def _field_options(config_type: Any) -> list[tuple[Any, Any]]:
    """``(FieldDoc, python type)`` for each top-level scalar or list-of-scalar field."""
    from lf.config import describe_fields

    if config_type is None:
        return []
    out = []
    for doc in describe_fields(config_type):
        if "." in doc.path or doc.is_section or doc.path in _RESERVED:
            continue
        base = doc.type.replace(" | null", "").replace("null | ", "")
        if base in _SCALARS:
            out.append((doc, _SCALARS[base]))
        elif doc.choices or base.startswith("list[") or "'" in base:
            out.append((doc, str))
    return out


def _field_parameter(doc: Any, py_type: Any, positional: list[str]) -> inspect.Parameter:
    """The typer argument or option of one config field, with its help text."""
    desc = doc.description or ""
    if doc.choices:
        desc += f" One of: {', '.join(map(str, doc.choices))}."
    if doc.type.startswith("list["):
        desc += " Comma-separated."
    if doc.required:
        desc += " [required]"
    elif doc.default not in (None, "", [], {}):
        desc += f" [default: {doc.default}]"
    if doc.path in positional:
        default: Any = typer.Argument(None, help=desc, show_default=False)
    elif py_type is bool:
        flag = doc.path.replace("_", "-")
        default = typer.Option(None, f"--{flag}/--no-{flag}", help=desc, show_default=False)
    else:
        default = typer.Option(None, f"--{doc.path.replace('_', '-')}", help=desc, show_default=False)
    return inspect.Parameter(doc.path, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=py_type | None)


def _launch_parameters(taken: set[str]) -> list[inspect.Parameter]:
    """``--nproc``, ``--launcher``, ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint`` of a training command."""
    from lf.cli.run_cmd import LaunchRequest, launch_option

    types: dict[str, Any] = {"launcher": str, "rdzv_endpoint": str | None}
    return [
        inspect.Parameter(
            f"launch_{name}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=types.get(name, int | None),
            default=launch_option(name),
        )
        for name in LaunchRequest._fields
        if f"launch_{name}" not in taken
    ]


def make_command(spec: ComponentSpec, config_type: Any = None) -> Any:
    """A typer command function for ``spec`` with a generated signature (one option per field of ``config_type``)."""
    fields = _field_options(spec.config if config_type is None else config_type)
    positional = [p for p in spec.positionals]
    params = [_field_parameter(doc, py_type, positional) for doc, py_type in fields]
    params.sort(key=lambda p: (p.name not in positional, positional.index(p.name) if p.name in positional else 0))
    params += [
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Path | None,
            default=typer.Option(None, "--config", "-c", help="YAML or JSON config file."),
        ),
        inspect.Parameter(
            "set_",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=list[str] | None,
            default=typer.Option(None, "--set", "-s", help="Override one option: --set lora.r=16 (repeatable)."),
        ),
        inspect.Parameter(
            "dry_run",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
        ),
    ]
    if spec.kind == "train":
        params += _launch_parameters({p.name for p in params})
    list_fields = {doc.path for doc, _ in fields if doc.type.startswith("list[")}

    def command(**kwargs: Any) -> None:
        from lf.cli.run_cmd import LaunchRequest, execute, launch_if_needed

        config = kwargs.pop("config")
        overrides = list(kwargs.pop("set_") or [])
        dry_run = kwargs.pop("dry_run")
        launch = LaunchRequest(*(kwargs.pop(f"launch_{n}", None) for n in LaunchRequest._fields))
        data: dict[str, Any] = {}
        for key, value in kwargs.items():
            if value is None:
                continue
            if key in list_fields and isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            data[key] = value
        if spec.kind == "train" and not dry_run and launch_if_needed(spec.name, config, overrides, data, launch):
            return
        execute(spec.kind, spec.name, config=config, overrides=overrides, flags=data, dry_run=dry_run)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = spec.name.replace("-", "_")
    command.__doc__ = spec.summary
    return command
