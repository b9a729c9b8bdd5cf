"""Configs: msgspec Structs filled from a YAML/JSON file, environment variables and ``--set``.

Precedence, lowest to highest: the Struct's defaults, the config file, ``LF_*``
environment variables, then ``--set a.b=c`` overrides on the command line (what you type
last wins, as with Hydra, pydantic-settings and most CLIs).

Environment variables are named ``LF_<COMPONENT>_<FIELD>``, upper case, with ``__``
between nested fields: ``LF_SFT_LEARNING_RATE=1e-4``, ``LF_SFT_LORA__R=16``.

Every failure is a :class:`lf.errors.ConfigError` that names the source of the bad value
(``FILE:LINE``, ``--set lora.r=0``, ``environment variable LF_SFT_LORA__R=0`` or the
flag), the field path, what was expected (type and limits) and what was found.

Config Structs should be declared ``kw_only=True, forbid_unknown_fields=True`` and may
document fields with ``Annotated[T, msgspec.Meta(description=...)]``; the descriptions
become the comments of ``lf config show``. Put every limit a single field has into its
type (``Annotated[int, msgspec.Meta(ge=1)]``), and the checks that involve several fields
or the machine into a method ``validate(self) -> None`` that raises
:func:`invalid` (a :class:`~lf.errors.ConfigError` naming the fields). :func:`build_config`
runs both - so ``lf run ... --dry-run`` and ``lf config check`` refuse exactly what the
run would - and a component called from Python runs them with :func:`validate_config`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from lf.config_explain import Origins, explain_validation_error, invalid, locate, lookup
from lf.config_schema import FieldDoc, config_template, describe_fields, field_names
from lf.errors import ConfigError

__all__ = [
    "FieldDoc",
    "Origins",
    "apply_override",
    "build_config",
    "config_template",
    "convert",
    "deep_merge",
    "describe_fields",
    "env_overrides",
    "explain_validation_error",
    "field_names",
    "invalid",
    "lookup",
    "parse_value",
    "read_config_file",
    "set_path",
    "to_yaml",
    "validate_config",
]

S = TypeVar("S", bound=msgspec.Struct)


# --- reading sources ----------------------------------------------------------------------------


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML or JSON config file into a mapping; errors name the line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            f"Config file not found: {p}", hint="Check the path, or create one with `lf config show KIND NAME > FILE`."
        )
    if p.is_dir():
        raise ConfigError(f"Config path is a directory, not a file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {p}: {exc}") from exc
    data = _parse_text(text, str(p), json_only=p.suffix.lower() == ".json")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: the top level must be a mapping of option: value, found {type(data).__name__}.",
            hint="Start from `lf config show KIND NAME`.",
        )
    return data


def _parse_text(text: str, source: str, *, json_only: bool) -> Any:
    if json_only:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc


def parse_value(text: str) -> Any:
    """Type a ``--set``/environment value like YAML does: ``4`` -> 4, ``true`` -> True, ``[a,b]`` -> list."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], assignment: str, *, source: str = "--set") -> str:
    """Apply one ``a.b.c=value`` assignment to ``data`` in place; returns the key (``a.b.c``)."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"{source} {assignment!r}: expected KEY=VALUE, e.g. --set learning_rate=1e-4 or --set lora.r=16"
        )
    set_path(data, key.split("."), parse_value(raw), source=f"{source} {assignment.strip()}")
    return key


def set_path(data: dict[str, Any], parts: list[str], value: Any, *, source: str) -> None:
    """Set ``data[parts[0]][parts[1]]... = value``, creating mappings on the way."""
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif isinstance(child, msgspec.Struct):
            child = node[part] = msgspec.to_builtins(child)
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: '{'.'.join(parts[: i + 1])}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def env_overrides(component: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{"lora.r": "16"}`` from ``LF_<COMPONENT>_LORA__R=16`` style variables."""
    env = os.environ if environ is None else environ
    prefix = "LF_" + re.sub(r"[^A-Za-z0-9]", "_", component).upper() + "_"
    found: dict[str, str] = {}
    for name, value in env.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            found[name[len(prefix) :].lower().replace("__", ".")] = value
    return found


# --- building a Struct ----------------------------------------------------------------------------


def build_config(
    struct_type: type[S],
    *,
    file: str | os.PathLike[str] | None = None,
    data: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    env_component: str | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    positionals: Iterable[str] = (),
) -> S:
    """Decode and check a config: defaults < ``file`` < ``data`` < environment < ``overrides`` < ``flags``.

    ``flags`` are already-typed values from command-line options (``--learning-rate``);
    those named in ``positionals`` were positional arguments. The result has passed the
    Struct's limits and its ``validate()`` method; every error names where the value came from.
    """
    merged: dict[str, Any] = {}
    origins = Origins()
    if file is not None:
        merged, text = _read_file(file)
        origins = Origins(str(file), copy.deepcopy(merged), text)  # what the file said, before overrides
    if data:
        merged = deep_merge(merged, dict(data))
        origins.record_mapping(data, "the options passed in")
    if env_component:
        for key, raw in env_overrides(env_component, environ).items():
            var = "LF_" + env_component.upper().replace("-", "_") + "_" + key.upper().replace(".", "__")
            label = f"environment variable {var}={raw}"
            set_path(merged, key.split("."), parse_value(raw), source=label)
            origins.record(key, label)
    for assignment in overrides:
        key = apply_override(merged, assignment)
        origins.record(key, f"--set {assignment.strip()}")
    fixed = set(positionals)
    for key, value in (flags or {}).items():
        label = _flag_label(key, value, positional=key in fixed)
        set_path(merged, key.split("."), value, source=label)
        origins.record(key, label)
    config = convert(merged, struct_type, origins=origins)
    validate_config(config, origins=origins)
    return config


def _read_file(file: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    data = read_config_file(file)
    return data, Path(file).read_text(encoding="utf-8")


def _flag_label(key: str, value: Any, *, positional: bool) -> str:
    """How the user typed a flag: ``--max-length 0``, ``--lora-r 0`` (for ``lora.r``), ``--no-packing``, ``MODEL``."""
    if positional:
        return f"the {key.upper()} argument ({value})"
    flag = "--" + key.replace("_", "-").replace(".", "-")
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    shown = ",".join(map(str, value)) if isinstance(value, list) else value
    return f"{flag} {shown}"


def convert(
    data: Mapping[str, Any],
    struct_type: type[S],
    *,
    source: str = "the configuration",
    text: str | None = None,
    origins: Origins | None = None,
) -> S:
    """``msgspec.convert`` with errors a user can act on (source, field, expected, found).

    ``origins`` (from :func:`build_config`) names where each value came from; without it
    ``source`` (a file name) and ``text`` (its content, for line numbers) do.
    """
    try:
        return msgspec.convert(dict(data), struct_type, strict=False)
    except msgspec.ValidationError as exc:
        raise explain_validation_error(exc, struct_type, data, source=source, text=text, origins=origins) from None


def validate_config(config: S, *, origins: Origins | None = None) -> S:
    """Run every check of ``config``: its type limits, then its ``validate()`` method if it has one.

    Call it where a component starts with a config built in Python (``SFTConfig(...)``
    skips msgspec's limits, which only run when decoding): the checks are the same as
    ``--dry-run``'s. With ``origins`` (:func:`build_config`) the config was just decoded,
    so only ``validate()`` runs, and its errors name the sources of the options involved.
    Returns ``config``; raises :class:`~lf.errors.ConfigError`.
    """
    if origins is None:
        convert(msgspec.to_builtins(config), type(config))
    check = getattr(config, "validate", None)
    if callable(check):
        try:
            check()
        except ConfigError as exc:
            raise locate(exc, origins or Origins()) from None
    return config


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``extra`` into a copy of ``base`` (mappings merge, values replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


#: Option names whose values are secrets: shown as ``"***"`` by ``to_yaml(redact=True)``.
SECRET_NAME = re.compile(r"(^|_)(keys?|token|secrets?|passwords?)$")


#: A URL with a password in it (``redis://:PASSWORD@host``): the password is redacted wherever it appears.
_URL_PASSWORD = re.compile(r"^(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(?=@)", re.I)


def redact(data: Any) -> Any:
    """``data`` (builtins) with the values of secret-named options, and passwords in URLs, replaced by ``"***"``."""
    if isinstance(data, dict):
        return {k: ("***" if v and SECRET_NAME.search(str(k)) else redact(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    if isinstance(data, str):
        return _URL_PASSWORD.sub(r"\g<head>***", data)
    return data


def to_yaml(config: msgspec.Struct, *, redact_secrets: bool = False) -> str:
    """A config instance as YAML (for saving the resolved config next to outputs).

    With ``redact_secrets`` (what ``--dry-run`` prints), API keys, tokens and passwords show as ``***``.
    """
    import yaml

    data = msgspec.to_builtins(config)
    return str(yaml.safe_dump(redact(data) if redact_secrets else data, sort_keys=False))
