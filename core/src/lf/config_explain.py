"""Where each config value came from, and errors that say so.

:func:`lf.config.build_config` records which source set each option: the config file (its
line is looked up only when an error needs it), an ``LF_*`` environment variable, a
``--set key=value`` argument, a command-line flag, or data passed from Python. An error
about an option then names that source - ``--set lora.r=0: 'lora.r': expected `int` >= 1,
found 0`` - so the user knows what to edit.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from lf.config_schema import describe_fields, field_names
from lf.errors import ConfigError

_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = object()


class Origins:
    """Which source set each option of one config (dotted path -> a label such as ``--set lora.r=0``).

    Args:
        file: the config file, if any; options found in ``file_data`` and set by nothing later
            are attributed to it, with their line when ``text`` is known.
        file_data: the file's parsed content.
        text: the file's text (for line numbers).
    """

    def __init__(self, file: str | None = None, file_data: Mapping[str, Any] | None = None, text: str | None = None):
        self.file = file
        self.file_data: Mapping[str, Any] = file_data or {}
        self.text = text
        self._labels: dict[str, str] = {}

    @property
    def fallback(self) -> str:
        """What to name when no single source is known (the file, else "the configuration")."""
        return self.file or "the configuration"

    def record(self, path: str, label: str) -> None:
        """``path`` and everything under it now come from ``label``."""
        stale = [key for key in self._labels if key == path or key.startswith(path + ".")]
        for key in stale:
            del self._labels[key]
        self._labels[path] = label

    def record_mapping(self, data: Mapping[str, Any], label: str, prefix: str = "") -> None:
        """Record every leaf of ``data`` (merged into the config, not replacing sections) as ``label``."""
        for key, value in data.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and value:
                self.record_mapping(value, label, path + ".")
            else:
                self.record(path, label)

    def of(self, path: str) -> str | None:
        """Where the value at ``path`` came from (``FILE:LINE``, ``--set k=v``, ...), or None for a default."""
        parts = [p for p in path.split(".") if p]
        for i in range(len(parts), 0, -1):
            label = self._labels.get(".".join(parts[:i]))
            if label:
                return label
        if self.file and parts and lookup(self.file_data, path) is not _MISSING:
            line = line_of(self.text, path) if self.text else None
            return f"{self.file}:{line}" if line else self.file
        return None


def invalid(fields: str | Iterable[str], message: str, *, hint: str | None = None) -> ConfigError:
    """A :class:`ConfigError` about ``fields`` (dotted option paths).

    Raise it from a config Struct's ``validate()`` method: :func:`lf.config.build_config` puts
    where each of those options came from in front of ``message``.
    """
    names = [fields] if isinstance(fields, str) else list(fields)
    return ConfigError(message, hint=hint, details={"fields": names})


def locate(error: ConfigError, origins: Origins) -> ConfigError:
    """``error`` with the sources of the options it names (``details["fields"]``) in front of its message."""
    fields = error.details.get("fields") or []
    if not fields or "sources" in error.details:
        return error
    sources = list(dict.fromkeys(s for s in (origins.of(f) for f in fields) if s))
    if not sources:
        return error
    located = type(error)(f"{', '.join(sources)}: {error.message}", hint=error.hint)
    located.details = {**error.details, "sources": sources}
    return located


def explain_validation_error(
    exc: msgspec.ValidationError,
    struct_type: type[msgspec.Struct],
    data: Mapping[str, Any],
    *,
    source: str = "the configuration",
    text: str | None = None,
    origins: Origins | None = None,
) -> ConfigError:
    """Turn msgspec's terse message into a :class:`ConfigError` naming source, field, limit and value."""
    origins = origins or Origins(source if source != "the configuration" else None, data, text)
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
        field_path = full
    elif missing:
        field = missing["f"]
        full = f"{path}.{field}" if path else field
        message = f"'{full}' is required but was not given"
        hint = f"Set it in the config file or with --set {full}=VALUE."
        field_path = path
    else:
        found = lookup(data, path)
        message = f"'{path or '(top level)'}': {problem[0].lower()}{problem[1:]}"
        if found is not _MISSING:
            message += f", found {found!r}"
        field_path = path
        hint = _describe_option(struct_type, path)
    where = (origins.of(field_path) if field_path else None) or origins.fallback
    details = {"field": field_path, "error": raw, "source": where}
    return ConfigError(f"{where}: {message}", hint=hint, details=details)


def _describe_option(struct_type: type[msgspec.Struct], path: str) -> str | None:
    """``'lora.r' is: <description>`` for the hint, when the field documents itself."""
    plain = ".".join(p for p in path.split(".") if not p.isdigit())
    try:
        doc = next((d for d in describe_fields(struct_type) if d.path == plain), None)
    except Exception:  # a Struct msgspec cannot describe: the message alone must do
        return None
    if doc is None or not doc.description:
        return None
    return f"'{plain}': {doc.description}"


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


def line_of(text: str, dotted: str) -> int | None:
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
