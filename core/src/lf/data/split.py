"""Split a data file into train/val/test files, reproducibly (same seed, same split)."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import msgspec

from lf.data.io import check_readable, file_kind, iter_chunks, iter_records, write_records
from lf.errors import DataError

DEFAULT_NAMES = ("train", "val", "test")


class SplitReport(msgspec.Struct, kw_only=True):
    """Where each split went and how many records it holds."""

    source: str
    seed: int
    files: dict[str, str] = {}
    counts: dict[str, int] = {}


def parse_ratios(text: str | Sequence[float]) -> list[float]:
    """``"0.9,0.1"`` or ``"80,10,10"`` -> fractions that sum to 1."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError as exc:
        raise DataError(f"Split ratios {text!r} are not numbers; use e.g. 0.9,0.1 or 80,10,10.") from exc
    if not 2 <= len(values) <= 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise DataError(f"Split ratios {text!r}: give 2 or 3 non-negative numbers (train,val[,test]).")
    total = sum(values)
    return [v / total for v in values]


def split_file(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    ratios: Sequence[float] = (0.9, 0.1),
    *,
    seed: int = 42,
    names: Sequence[str] = DEFAULT_NAMES,
) -> SplitReport:
    """Shuffle record positions with ``seed`` and write one file per split.

    JSONL lines are copied byte for byte and streamed (one byte of memory per record);
    JSON and Parquet files are loaded whole.
    """
    src = check_readable(source)
    fractions = parse_ratios(ratios)
    kind = file_kind(src)
    out = Path(out_dir)
    suffix = src.suffix if kind != "parquet" else ".parquet"
    report = SplitReport(source=str(src), seed=seed)
    if kind == "jsonl":
        n = sum(1 for _, chunk in iter_chunks(src) for raw in chunk.split(b"\n") if raw.strip())
        assignment = _assignment(n, fractions, seed)
        split_names = list(names[: len(fractions)])
        paths = [out / f"{name}{suffix}" for name in split_names]
        counts = _write_assigned_lines(src, assignment, paths)
        for name, path, count in zip(split_names, paths, counts, strict=True):
            report.files[name], report.counts[name] = str(path), count
        return report
    records = list(iter_records(src))
    assignment = _assignment(len(records), fractions, seed)
    for split_index, name in enumerate(names[: len(fractions)]):
        selected = [r for r, a in zip(records, assignment, strict=True) if a == split_index]
        path = out / f"{name}{suffix}"
        report.files[name], report.counts[name] = str(path), write_records(path, selected)
    return report


def _assignment(n: int, fractions: list[float], seed: int) -> bytearray:
    if n == 0:
        raise DataError("No records to split.")
    rest = [int(f * n) for f in fractions[1:]]
    counts = [n - sum(rest), *rest]
    assignment = bytearray()
    for index, count in enumerate(counts):
        assignment.extend(bytes([index]) * count)
    random.Random(seed).shuffle(assignment)
    return assignment


def _write_assigned_lines(src: Path, assignment: bytearray, paths: list[Path]) -> list[int]:
    """Second pass over ``src``: copy each non-blank line to the file of its split."""
    import contextlib

    from lf.atomic import atomic_open

    counts = [0] * len(paths)
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(atomic_open(p, "wb", encoding=None)) for p in paths]
        index = 0
        for _, chunk in iter_chunks(src):
            for raw in chunk.split(b"\n"):
                if not raw.strip():
                    continue
                target = assignment[index]
                handles[target].write(raw.rstrip(b"\r") + b"\n")
                counts[target] += 1
                index += 1
    return counts
