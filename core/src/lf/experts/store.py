"""The registry file on disk: parse with line numbers, lock, replace atomically, keep history.

Several processes (``lf expert add`` run in parallel, router replicas) share one file:

* readers never lock: writers replace the file atomically (temp file + ``os.replace``), so a
  reader sees the old or the new registry, never half of one;
* writers take an exclusive lock on a sibling ``.NAME.lock`` file, re-read the registry,
  apply their change and replace the file: concurrent changes are serialized, none lost;
* a malformed file is reported with its line and is never overwritten;
* every replaced or removed definition is appended to ``NAME.history.jsonl`` (versioning);
* the first line written is an integrity check (:mod:`lf.experts.integrity`): a file cut
  short between two experts is an error, not a registry that lost its tail.

Start-up (:func:`read_registry`): a missing file is an empty registry (created at the first
change), and so is an empty one (no YAML document); a file that fails its integrity check
is a :class:`ConfigError`. A process that already holds a registry (a router's
``refresh_if_changed``, its next write) reads with ``require_content=True``: a missing or
empty file is then an error too, and the registry it holds stays in use.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from lf.errors import ConfigError, RunError
from lf.experts.config import ExpertConfig, decode_experts, normalize_expert
from lf.experts.integrity import check_count, seal, sealed_count
from lf.experts.lock import file_lock
from lf.experts.lock import lock_path as lock_path  # re-exported: it was defined here

HEADER = (
    "# LargeForge expert registry: edit by hand or with `lf expert add/remove`.\n"
    "# Editing by hand? Delete the first line (lf's check against files cut short) or lf refuses the file.\n"
    "# Replaced definitions are kept in the .history.jsonl file beside this one.\n"
)


class ExpertVersion(msgspec.Struct, kw_only=True):
    """A previous definition of an expert, kept when it was replaced or removed."""

    name: str
    version: int
    change: Literal["updated", "removed"]
    at: str
    expert: ExpertConfig


#: (inode, size, mtime_ns) of the registry file, or None when it does not exist.
StatKey = tuple[int, int, int] | None


def stat_key(path: Path) -> StatKey:
    """What changes whenever the file is replaced or edited (one ``stat`` call, ~1 µs)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def history_path(path: Path) -> Path:
    """``experts.yaml`` -> ``experts.history.jsonl``."""
    return path.with_name(f"{path.stem}.history.jsonl")


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- reading ------------------------------------------------------------------------------------


def parse_registry(text: str, source: str, *, allow_empty: bool = True) -> list[ExpertConfig]:
    """The experts in a registry document; any problem is a :class:`ConfigError` naming the line.

    The integrity line, when present, is checked. A document with no YAML content (empty,
    or comments only) is an empty registry, or an error when ``allow_empty`` is False.
    """
    expected = sealed_count(text, source)
    data = _load_yaml(text, source)
    if data is None:
        if not allow_empty:
            raise ConfigError(
                f"{source}: the expert registry is empty (no 'experts:' list); it was not loaded.",
                hint="Restore the file, or write 'experts: []' to mean a registry with no experts.",
            )
        check_count(expected, 0, source)
        return []
    if isinstance(data, list):  # a bare list of experts is accepted too
        data = {"experts": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with an 'experts:' list.")
    unknown = sorted(set(data) - {"experts"})
    if unknown:
        raise ConfigError(
            f"{source}:{_line(text, [unknown[0]]) or 1}: unknown top-level key '{unknown[0]}'",
            hint="A registry holds one key, 'experts:', a list of experts.",
        )
    raw = data.get("experts") or []
    if not isinstance(raw, list):
        raise ConfigError(f"{source}:{_line(text, ['experts']) or 1}: 'experts' must be a list of experts.")
    normalized: list[Any] = []
    for i, item in enumerate(raw):
        where = f"{source}:{_line(text, ['experts', str(i)]) or 1}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: each expert must be a mapping with at least 'name', found {item!r}.")
        try:
            normalized.append(normalize_expert(item))
        except ValueError as exc:
            raise ConfigError(f"{where}: expert {item.get('name', i)!r}: {exc}") from None
    experts = decode_experts(normalized, source=source, text=text)
    seen: dict[str, int] = {}
    for i, expert in enumerate(experts):
        if expert.name in seen:
            where = f"{source}:{_line(text, ['experts', str(i)]) or 1}"
            raise ConfigError(f"{where}: expert '{expert.name}' is defined twice (also item {seen[expert.name] + 1}).")
        seen[expert.name] = i
    check_count(expected, len(experts), source)
    return experts


def _load_yaml(text: str, source: str) -> Any:
    """The YAML document in ``text``; a syntax error is a :class:`ConfigError` naming the line."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(
            f"{where}: invalid YAML: {exc.problem or exc.context}", hint="Fix the file; it was not changed."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}", hint="Fix the file; it was not changed.") from None


def read_registry(path: Path, *, require_content: bool = False) -> tuple[list[ExpertConfig], StatKey]:
    """The experts in ``path`` and the file's :func:`stat_key`.

    A missing or empty file is an empty registry, or a :class:`ConfigError` with
    ``require_content`` (for a process that holds a registry already: see the module docstring).
    """
    for _ in range(5):
        before = stat_key(path)
        if before is None:
            if require_content:
                raise ConfigError(
                    f"The expert registry {path} is missing (deleted or moved); the registry in use is kept.",
                    hint="Restore the file (or add an expert with `lf expert add` to start a new one).",
                )
            return [], None
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read the expert registry {path}: {exc}") from None
        if stat_key(path) == before:  # not replaced while we read it
            return parse_registry(text, str(path), allow_empty=not require_content), before
    raise RunError(f"The expert registry {path} kept changing while being read.")


def _line(text: str, parts: list[str]) -> int | None:
    """1-based line of a key path (``["experts", "2", "name"]``) in a YAML document."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part or (part == "endpoints" and key.value == "endpoint"):
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


def dump_registry(experts: list[ExpertConfig]) -> str:
    """The YAML text of a registry (the requirements' shape, defaults left out), integrity line first."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)  # indent lists under their key, as in SRS 6.1.3

    body = yaml.dump(
        {"experts": [e.to_dict() for e in experts]},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return seal(HEADER + body, len(experts))


def render_registry(experts: list[ExpertConfig], source: str = "the registry") -> str:
    """The file text of ``experts``, checked by reading it back: what is written always loads."""
    text = dump_registry(experts)
    if parse_registry(text, source, allow_empty=False) != experts:
        raise RunError(f"Writing {source} would change its experts (a bug in lf.experts): nothing was written.")
    return text


def write_registry(path: Path, experts: list[ExpertConfig], text: str | None = None) -> None:
    """Replace ``path`` atomically, keeping its permissions (0644 less the umask for a new file).

    ``text`` is :func:`render_registry`'s result when the caller has it already.
    """
    from lf.atomic import atomic_open

    text = render_registry(experts, str(path)) if text is None else text
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with atomic_open(path, "w") as handle:
        handle.write(text)
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), mode)


# --- history ------------------------------------------------------------------------------------

_history_decoder = msgspec.json.Decoder(ExpertVersion)
_history_encoder = msgspec.json.Encoder()


def read_history(path: Path, name: str | None = None) -> list[ExpertVersion]:
    """Previous definitions, oldest first (only ``name``'s when given)."""
    hp = history_path(path)
    try:
        lines = hp.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    out: list[ExpertVersion] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = _history_decoder.decode(line)
        except msgspec.DecodeError as exc:
            if number == len(lines):  # a write cut short by a crash: the last line only
                break
            raise ConfigError(f"{hp}:{number}: invalid history entry: {exc}") from None
        if name is None or entry.name == name:
            out.append(entry)
    return out


def append_history(path: Path, entries: list[ExpertVersion]) -> None:
    """Append entries (call with the registry lock held)."""
    if not entries:
        return
    hp = history_path(path)
    hp.parent.mkdir(parents=True, exist_ok=True)
    payload = b"".join(_history_encoder.encode(e) + b"\n" for e in entries)
    with open(hp, "ab") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


# --- transactions -------------------------------------------------------------------------------


@dataclass
class Transaction:
    """The registry as a writer sees it under the lock; changes are written on success."""

    experts: dict[str, ExpertConfig]
    old_history: list[ExpertVersion]
    history: list[ExpertVersion] = field(default_factory=list)
    changed: bool = False
    #: The registry's version once the transaction is over (a file's stat key; Redis's counter).
    key: Hashable = None

    def last_version(self, name: str) -> int:
        """The highest version ``name`` ever had (current or in history), 0 if never seen."""
        versions = [h.version for h in (*self.old_history, *self.history) if h.name == name]
        current = self.experts.get(name)
        if current is not None:
            versions.append(current.version)
        return max(versions, default=0)

    def put(self, expert: ExpertConfig) -> None:
        """Add or replace ``expert``; a replaced definition goes to the history."""
        old = self.experts.get(expert.name)
        if old is not None:
            self.history.append(
                ExpertVersion(name=old.name, version=old.version, change="updated", at=now_iso(), expert=old)
            )
        self.experts[expert.name] = expert
        self.changed = True

    def remove(self, name: str) -> ExpertConfig:
        """Remove ``name`` (which must exist); its definition goes to the history."""
        old = self.experts.pop(name)
        self.history.append(ExpertVersion(name=name, version=old.version, change="removed", at=now_iso(), expert=old))
        self.changed = True
        return old


@contextlib.contextmanager
def transaction(path: Path, timeout: float = 30.0, *, require_content: bool = False) -> Iterator[Transaction]:
    """Lock, read, let the caller change, then write atomically (only if something changed).

    ``require_content``: a missing or empty file is an error (see :func:`read_registry`).
    """
    with file_lock(path, timeout):
        # a malformed (or, with require_content, missing or empty) file raises here: nothing gets written
        experts, key = read_registry(path, require_content=require_content)
        txn = Transaction({e.name: e for e in experts}, read_history(path), key=key)
        yield txn
        if txn.changed:
            experts = list(txn.experts.values())
            text = render_registry(experts, str(path))  # before the history: a refused change leaves no trace
            append_history(path, txn.history)
            write_registry(path, experts, text)
            txn.key = stat_key(path)  # still under the lock: no other writer came in between


def to_json(expert: ExpertConfig) -> dict[str, Any]:
    """An expert as plain JSON data (every field, ``endpoints`` always a list)."""
    return expert.to_json()
