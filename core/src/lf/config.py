"""Configs: msgspec Structs filled from a YAML/JSON file, environment variables and ``--set``.

Precedence, lowest to highest: the Struct's defaults, the config file, ``LF_*``
environment variables, then ``--set a.b=c`` overrides on the command line (what you type
last wins, as with Hydra, pydantic-settings and most CLIs).

Environment variables are named ``LF_<COMPONENT>_<FIELD>``, upper case, with ``__``
between nested fields: ``LF_SFT_LEARNING_RATE=1e-4``, ``LF_SFT_LORA__R=16``.

Every failure is a :class:`lf.errors.ConfigError` that names the source (file and line,
``--set`` or variable), the field path, what was expected and what was found.

Config Structs should be declared ``kw_only=True, forbid_unknown_fields=True`` and may
document fields with ``Annotated[T, msgspec.Meta(description=...)]``; the descriptions
become the comments of ``lf config show``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from lf.errors import ConfigError

S = TypeVar("S", bound=msgspec.Struct)

_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")


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


def apply_override(data: dict[str, Any], assignment: str, *, source: str = "--set") -> None:
    """Apply one ``a.b.c=value`` assignment to ``data`` in place."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"{source} {assignment!r}: expected KEY=VALUE, e.g. --set learning_rate=1e-4 or --set lora.r=16"
        )
    set_path(data, key.split("."), parse_value(raw), source=f"{source} {key}")


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
) -> S:
    """Decode a config: defaults < ``file`` < ``data`` < environment < ``overrides`` < ``flags``.

    ``flags`` are already-typed values from command-line options (``--learning-rate``).
    """
    merged: dict[str, Any] = {}
    text = None
    if file is not None:
        merged = read_config_file(file)
        text = Path(file).read_text(encoding="utf-8")
    if data:
        merged = deep_merge(merged, dict(data))
    if env_component:
        for key, raw in env_overrides(env_component, environ).items():
            var = "LF_" + env_component.upper().replace("-", "_") + "_" + key.upper().replace(".", "__")
            set_path(merged, key.split("."), parse_value(raw), source=f"environment variable {var}")
    for assignment in overrides:
        apply_override(merged, assignment)
    for key, value in (flags or {}).items():
        set_path(merged, key.split("."), value, source=f"--{key.replace('_', '-')}")
    return convert(merged, struct_type, source=str(file) if file else "the configuration", text=text)


def convert(
    data: Mapping[str, Any], struct_type: type[S], *, source: str = "the configuration", text: str | None = None
) -> S:
    """``msgspec.convert`` with errors a user can act on (file, line, field, expected, found)."""
    try:
        return msgspec.convert(dict(data), struct_type, strict=False)
    except msgspec.ValidationError as exc:
        raise explain_validation_error(exc, struct_type, data, source=source, text=text) from None


def explain_validation_error(
    exc: msgspec.ValidationError,
    struct_type: type[msgspec.Struct],
    data: Mapping[str, Any],
    *,
    source: str,
    text: str | None = None,
) -> ConfigError:
    """Turn msgspec's terse message into a :class:`ConfigError` naming path and value."""
    raw = str(exc)
    m = _PATH_RE.search(raw)
    path = _dotted(m.group("path")) if m else ""
    problem = raw[: m.start()] if m else raw
    hint = None
    unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", problem)
    missing = re.match(r"Object missing required field `(?P<f>[^`]+)`", problem)
    if unknown:
        field = unknown["f"]
        full = f"{path}.{field}" if path else field
        known = field_names(struct_type, path)
        close = difflib.get_close_matches(field, known, n=1)
        message = f"unknown option '{full}'"
        hint = (f"Did you mean '{close[0]}'? " if close else "") + f"Valid options here: {', '.join(known)}."
        line_path = full
    elif missing:
        field = missing["f"]
        full = f"{path}.{field}" if path else field
        message = f"'{full}' is required but was not given"
        hint = f"Set it in the config file or with --set {full}=VALUE."
        line_path = path
    else:
        found = lookup(data, path)
        message = f"'{path or '(top level)'}': {problem[0].lower()}{problem[1:]}"
        if found is not _MISSING:
            message += f", found {found!r}"
        line_path = path
    line = _line_of(text, line_path) if text else None
    where = f"{source}:{line}" if line else source
    return ConfigError(f"{where}: {message}", hint=hint, details={"field": line_path, "error": raw})


_MISSING = object()


def lookup(data: Any, dotted: str) -> Any:
    """The value at ``a.b.0.c`` in nested mappings/lists, or a sentinel when absent."""
    node = data
    for part in [p for p in dotted.split(".") if p]:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _dotted(msgspec_path: str) -> str:
    # "$.lora.r" -> "lora.r"; "$.items[0].x" -> "items.0.x"
    return re.sub(r"\[(\d+)\]", r".\1", msgspec_path).lstrip(".")


def _line_of(text: str, dotted: str) -> int | None:
    """1-based line of a YAML key path in ``text`` (best effort, None when unknown)."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = None
    for part in [p for p in dotted.split(".") if p]:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``extra`` into a copy of ``base`` (mappings merge, values replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


# --- describing a Struct ------------------------------------------------------------------------


def field_names(struct_type: type[msgspec.Struct], dotted: str = "") -> list[str]:
    """Field names of the (nested) Struct at ``dotted``."""
    info: Any = _struct_info(struct_type)
    for part in [p for p in dotted.split(".") if p]:
        nested = next((f for f in info.fields if f.encode_name == part), None)
        sub = _unwrap_struct(nested.type) if nested else None
        if sub is None:
            return []
        info = sub
    return [f.encode_name for f in info.fields]


def _struct_info(struct_type: type[msgspec.Struct]) -> Any:
    import msgspec.inspect as mi

    return mi.type_info(struct_type)


def _unwrap_struct(t: Any) -> Any:
    import msgspec.inspect as mi

    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.StructType):
        return t
    if isinstance(t, mi.UnionType):
        for sub in t.types:
            if isinstance(sub, mi.StructType):
                return sub
    return None


def describe_fields(struct_type: type[msgspec.Struct]) -> list[FieldDoc]:
    """Every field (nested ones as ``a.b``) with type, default, required flag and description."""
    return _describe(_struct_info(struct_type), "")


class FieldDoc(msgspec.Struct, frozen=True):
    """One documented config field."""

    path: str
    type: str
    required: bool
    default: Any
    description: str
    choices: tuple[Any, ...] = ()
    is_section: bool = False


def _describe(info: Any, prefix: str) -> list[FieldDoc]:
    import msgspec.inspect as mi

    docs: list[FieldDoc] = []
    for f in info.fields:
        t = f.type
        description = ""
        if isinstance(t, mi.Metadata):
            description = (t.extra_json_schema or {}).get("description", "")
            t = t.type
        path = f"{prefix}{f.encode_name}"
        default: Any = None
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        sub = _unwrap_struct(t)
        if sub is not None and not isinstance(t, mi.UnionType):
            docs.append(FieldDoc(path, sub.cls.__name__, f.required, None, description, is_section=True))
            docs.extend(_describe(sub, path + "."))
            continue
        choices = tuple(t.values) if isinstance(t, mi.LiteralType) else ()
        docs.append(FieldDoc(path, _type_name(t), f.required, _plain(default), description, choices))
    return docs


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value) if value is not None else None


def _type_name(t: Any) -> str:
    import msgspec.inspect as mi

    simple = {
        mi.StrType: "str",
        mi.IntType: "int",
        mi.FloatType: "float",
        mi.BoolType: "bool",
        mi.NoneType: "null",
        mi.AnyType: "any",
    }
    for cls, name in simple.items():
        if isinstance(t, cls):
            return name
    if isinstance(t, mi.Metadata):
        return _type_name(t.type)
    if isinstance(t, mi.LiteralType):
        return " | ".join(repr(v) for v in t.values)
    if isinstance(t, mi.UnionType):
        return " | ".join(_type_name(s) for s in t.types)
    if isinstance(t, (mi.ListType, mi.TupleType, mi.VarTupleType, mi.SetType)):
        item = getattr(t, "item_type", None)
        return f"list[{_type_name(item)}]" if item is not None else "list"
    if isinstance(t, mi.DictType):
        return f"dict[{_type_name(t.key_type)}, {_type_name(t.value_type)}]"
    if isinstance(t, mi.StructType):
        return t.cls.__name__
    return type(t).__name__.replace("Type", "").lower()


def config_template(struct_type: type[msgspec.Struct], title: str = "") -> str:
    """The defaults as commented YAML - a config file to start from."""
    import yaml

    lines = [f"# {title}" if title else "", "# Every option with its default. Required options are marked."]
    lines = [line for line in lines if line]
    for doc in describe_fields(struct_type):
        depth = doc.path.count(".")
        indent = "  " * depth
        key = doc.path.rsplit(".", 1)[-1]
        comment = doc.description
        if doc.choices:
            comment += (" " if comment else "") + f"(one of: {', '.join(map(str, doc.choices))})"
        if doc.is_section:
            if comment:
                lines.append(f"{indent}# {comment}")
            lines.append(f"{indent}{key}:")
            continue
        if comment:
            lines.append(f"{indent}# {comment}")
        if doc.required:
            lines.append(f"{indent}{key}:  # REQUIRED ({doc.type})")
            continue
        dumped = yaml.safe_dump({key: doc.default}, default_flow_style=True, width=10_000).strip()
        dumped = dumped[1:-1] if dumped.startswith("{") else dumped
        lines.append(f"{indent}{dumped}")
    return "\n".join(lines) + "\n"


def to_yaml(config: msgspec.Struct) -> str:
    """A config instance as YAML (for saving the resolved config next to outputs)."""
    import yaml

    return str(yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False))
