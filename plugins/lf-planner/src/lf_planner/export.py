"""Writing plans: JSON (the default file format), CSV (one row per field) and the HTML report."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import msgspec

from lf.errors import ConfigError, DataError
from lf_planner.plans import LLMCapacityPlan, Plan, TrainingCapacityPlan

FORMATS = ("json", "csv", "html")


def to_json(plan: msgspec.Struct) -> str:
    """Pretty, deterministic JSON (field order is the Struct's)."""
    return msgspec.json.format(msgspec.json.encode(plan), indent=2).decode() + "\n"


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``[("gpu_resources.total_gpus", 12), ...]``; lists get their index in the key."""
    rows: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            rows += flatten(sub, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if not value:
            rows.append((prefix, ""))
        for i, sub in enumerate(value):
            rows += flatten(sub, f"{prefix}.{i}")
    else:
        rows.append((prefix, "" if value is None else value))
    return rows


def to_csv(plan: msgspec.Struct) -> str:
    """Two columns, ``field,value``: every number of the plan, spreadsheet-ready."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["field", "value"])
    for key, value in flatten(msgspec.to_builtins(plan)):
        writer.writerow([key, value])
    return buffer.getvalue()


def render_file(plan: msgspec.Struct, fmt: str) -> str:
    """The plan in ``fmt`` (json, csv or html)."""
    if fmt == "json":
        return to_json(plan)
    if fmt == "csv":
        return to_csv(plan)
    if fmt == "html":
        from lf_planner.report_html import render_html

        return render_html(plan)
    raise ConfigError(f"Unknown output format '{fmt}'.", hint="Use json, csv or html.")


def format_for(path: Path, fmt: str | None) -> str:
    """The format asked for, else the one the extension names, else JSON (the default)."""
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ConfigError(
                f"Unknown output format '{fmt}'.",
                hint="Use json, csv or html (PDF: open the HTML report and print it to PDF).",
            )
        return fmt
    ext = path.suffix.lower().lstrip(".")
    return {"htm": "html"}.get(ext, ext) if ext in (*FORMATS, "htm") else "json"


def write_text(path: Path, text: str) -> None:
    """Write atomically, with the permissions a plain ``open()`` would give (the umask's)."""
    import os

    from lf.atomic import atomic_write_text

    try:
        atomic_write_text(path, text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(path, 0o666 & ~mask)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="Check the directory exists and is writable."
        ) from exc


def write(plan: msgspec.Struct, path: Path, fmt: str | None = None) -> str:
    """Write ``plan`` to ``path`` atomically; returns the format used."""
    chosen = format_for(path, fmt)
    write_text(path, render_file(plan, chosen))
    return chosen


def emit(plan: LLMCapacityPlan | TrainingCapacityPlan, output: Path | None, fmt: str | None, as_json: bool) -> None:
    """Print the summary (or JSON) and write the file when asked."""
    import sys

    from lf.plugin_api import info, is_quiet

    if as_json:
        sys.stdout.write(to_json(plan))
    elif not is_quiet():
        from lf_planner.render import print_plan

        print_plan(plan)
    if output is not None:
        used = write(plan, output, fmt)
        info(f"wrote {used.upper()} plan: {output}")


def safe_config_path(value: str, config: Path | None) -> Path:
    """An output path named inside a config file: relative to that file, never escaping its folder."""
    path = Path(value)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError(
            f"options.output_file {value!r} must be a relative path inside the config's folder.",
            hint="Use a plain file name there, or pass --output PATH on the command line.",
        )
    return (config.parent if config else Path.cwd()) / path


def load_plan(path: Path) -> Plan:
    """Read a plan exported as JSON (either kind)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    try:
        kind = msgspec.json.decode(raw, type=dict).get("plan_type")
        struct: type[msgspec.Struct] = TrainingCapacityPlan if kind == "training" else LLMCapacityPlan
        return msgspec.json.decode(raw, type=struct)  # type: ignore[return-value]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DataError(
            f"{path} is not a plan exported by `lf plan`: {exc}",
            hint="Export one with `lf plan inference ... --output plan.json`.",
        ) from None
