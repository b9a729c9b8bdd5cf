"""Reading ``[lf]`` entry points fast, without importing ``importlib.metadata``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    """One ``[lf]`` entry point: its name, the module it names, and the distribution it comes from."""

    name: str
    module: str
    package: str
    version: str


def find_entry_points(group: str, paths: Iterable[str] | None = None) -> list[EntryPoint]:
    """Entry points of ``group`` from the ``*.dist-info/entry_points.txt`` files on ``sys.path``.

    This reads a few small files instead of importing ``importlib.metadata`` (about 30 ms,
    a sixth of the start-up budget of ``lf --help``). The first distribution of a name on
    the path wins, as with ``importlib.metadata``.
    """
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path if paths is None else paths:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for dirname in sorted(names):
            if not dirname.endswith(".dist-info"):
                continue
            dist, _, version = dirname[: -len(".dist-info")].partition("-")
            key = dist.lower().replace("-", "_").replace(".", "_")
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(entry or ".", dirname, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            for name, value in _section(text, group):
                module = value.split(":", 1)[0].strip()
                found.append(EntryPoint(name, module, key.replace("_", "-"), version or "?"))
    return found


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` pairs of one ``[group]`` of an INI-style entry_points.txt."""
    pairs: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == f"[{group}]"
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs
