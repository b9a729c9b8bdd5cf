"""Dataset statistics: record counts, turns, and length percentiles (tokens or characters)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from lf.data.convert import to_internal
from lf.data.detect import detect_file_format, get_format
from lf.data.formats import Preference
from lf.data.io import iter_raw
from lf.errors import DataError, DependencyMissingError

PERCENTILES = (50, 90, 95, 99)


class LengthStats(msgspec.Struct, kw_only=True):
    """Distribution of one length."""

    count: int
    mean: float
    min: int
    max: int
    percentiles: dict[str, int]


class DataStats(msgspec.Struct, kw_only=True):
    """What ``lf data stats`` reports."""

    path: str
    format: str
    records: int
    invalid: int
    unit: str
    lengths: dict[str, LengthStats]
    turns: LengthStats | None = None


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, round(q / 100 * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values: list[int]) -> LengthStats:
    """Count, mean, extremes and percentiles of ``values``."""
    values = sorted(values)
    if not values:
        return LengthStats(count=0, mean=0.0, min=0, max=0, percentiles={})
    return LengthStats(
        count=len(values),
        mean=round(sum(values) / len(values), 2),
        min=values[0],
        max=values[-1],
        percentiles={f"p{q}": percentile(values, q) for q in PERCENTILES},
    )


def load_counter(tokenizer: str | None) -> tuple[str, Callable[[list[str]], list[int]]]:
    """A batch length function: tokens with ``tokenizer`` (a directory or tokenizer.json), else characters."""
    if tokenizer is None:
        return "characters", lambda texts: [len(t) for t in texts]
    path = Path(tokenizer)
    file = path / "tokenizer.json" if path.is_dir() else path
    if file.is_file() and file.name.endswith(".json"):
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise DependencyMissingError.for_package("tokenizers", "Counting tokens") from exc
        tok = Tokenizer.from_file(str(file))
        return "tokens", lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise DependencyMissingError.for_package("transformers", f"Loading the tokenizer {tokenizer}") from exc
    try:
        hf_tok = AutoTokenizer.from_pretrained(tokenizer)
    except Exception as exc:
        raise DataError(
            f"Cannot load a tokenizer from {tokenizer}: {exc}", hint="Give a model directory with tokenizer files."
        ) from exc
    return "tokens", lambda texts: [len(ids) for ids in hf_tok(texts, add_special_tokens=False)["input_ids"]]


def _fields(fmt: Any, record: dict[str, Any]) -> tuple[dict[str, str], int | None]:
    """The texts to measure in one record, and its number of turns."""
    shape = fmt.shape
    value = to_internal(fmt, record, "text" if shape == "text" else shape)
    if isinstance(value, str):
        return {"text": value}, None
    if isinstance(value, Preference):
        prompt = "\n".join(m["content"] for m in value.prompt)
        chosen = "\n".join(m["content"] for m in value.chosen)
        rejected = "\n".join(m["content"] for m in value.rejected)
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}, len(value.prompt) + 1
    prompt = "\n".join(m["content"] for m in value if m["role"] != "assistant")
    response = "\n".join(m["content"] for m in value if m["role"] == "assistant")
    return {"prompt": prompt, "response": response, "total": prompt + "\n" + response}, len(value)


def stats_file(
    path: str | os.PathLike[str], *, tokenizer: str | None = None, format: str | None = None, batch: int = 1000
) -> DataStats:
    """Measure every valid record of ``path``."""
    fmt = get_format(format) if format else detect_file_format(path)
    unit, count = load_counter(tokenizer)
    lengths: dict[str, list[int]] = {}
    turns: list[int] = []
    pending: dict[str, list[str]] = {}
    records = invalid = 0

    def flush() -> None:
        for key, texts in pending.items():
            lengths.setdefault(key, []).extend(count(texts))
        pending.clear()

    for _, record, error in iter_raw(path):
        if error is not None or not isinstance(record, dict) or fmt.validate(record):
            invalid += 1
            continue
        texts, n_turns = _fields(fmt, record)
        for key, text in texts.items():
            pending.setdefault(key, []).append(text)
        if n_turns is not None:
            turns.append(n_turns)
        records += 1
        if records % batch == 0:
            flush()
    flush()
    if records == 0:
        raise DataError(f"{path} has no valid {fmt.name} records to measure.", hint=f"Run `lf data validate {path}`.")
    return DataStats(
        path=str(path),
        format=fmt.name,
        records=records,
        invalid=invalid,
        unit=unit,
        lengths={k: summarize(v) for k, v in lengths.items()},
        turns=summarize(turns) if turns else None,
    )
