"""Finding data formats: by name through the registry, or by looking at records."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from typing import Any

from lf.data.io import iter_raw
from lf.errors import DataError

DETECT_SAMPLE = 200


def all_formats() -> list[Any]:
    """Instances of every registered format, in detection order (plugins before built-ins)."""
    from lf.plugins import get_registry

    registry = get_registry()
    seen: dict[int, Any] = {}
    for spec in registry.components["format"].values():
        if id(spec) not in seen:
            seen[id(spec)] = spec.load()()
    return list(seen.values())


def get_format(name: str) -> Any:
    """The registered format called ``name`` (an unknown name lists the installed ones)."""
    from lf.plugins import get_registry

    return get_registry().get("format", name).load()()


def detect_record(record: Any, formats: list[Any] | None = None) -> Any | None:
    """The first format whose ``detect`` accepts ``record``, or None."""
    if not isinstance(record, dict):
        return None
    for fmt in formats if formats is not None else all_formats():
        if fmt.detect(record):
            return fmt
    return None


def detect_file_format(path: str | os.PathLike[str], sample: int = DETECT_SAMPLE) -> Any:
    """The format most of the first ``sample`` decodable records have."""
    formats = all_formats()
    votes: Counter[str] = Counter()
    by_name = {f.name: f for f in formats}
    first_keys: list[str] | None = None
    for _, record, error in itertools.islice(iter_raw(path), sample):
        if error is not None:
            continue
        if first_keys is None and isinstance(record, dict):
            first_keys = sorted(record)
        fmt = detect_record(record, formats)
        if fmt is not None:
            votes[fmt.name] += 1
    if not votes:
        described = ", ".join(f"{f.name} ({'+'.join(getattr(f, 'keys', ()) or ('?',))})" for f in formats)
        found = f"the first record has keys {first_keys}" if first_keys is not None else "no record could be decoded"
        raise DataError(
            f"{path}: cannot tell the data format: {found}.",
            hint=f"Known formats and their keys: {described}. Pass --format NAME to force one.",
        )
    return by_name[votes.most_common(1)[0][0]]
