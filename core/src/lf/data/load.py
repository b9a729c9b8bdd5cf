"""Loading data for trainers as Hugging Face ``datasets`` in the internal shapes.

Trainers call :func:`load_for_training`: it validates first (fast, no model loaded yet),
stops with the reason when the data is unusable, then builds a memory-mapped, cached
``datasets.Dataset`` with one of three column layouts:

* chat: ``messages`` - a list of ``{"role", "content"}``
* preference: ``prompt``, ``chosen``, ``rejected`` - message lists (TRL's conversational form)
* text: ``text``
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lf.data.convert import check_convertible, to_internal
from lf.data.detect import detect_file_format, get_format
from lf.data.formats import Preference
from lf.data.io import iter_raw
from lf.data.validate import ValidationReport, validate_file
from lf.errors import DataError, DependencyMissingError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise DependencyMissingError.for_package("datasets", "Loading training data", "'lf-core[data]'") from exc
    return datasets


def is_hub_id(source: str | os.PathLike[str]) -> bool:
    """``org/name`` that is not an existing local path (a ``pathlib.Path`` never is one)."""
    return isinstance(source, str) and bool(_HUB_ID.match(source)) and not Path(source).exists()


def _normalize(fmt: Any, record: dict[str, Any], shape: str) -> dict[str, Any]:
    value = to_internal(fmt, record, shape)
    if isinstance(value, Preference):
        return {"prompt": value.prompt, "chosen": value.chosen, "rejected": value.rejected}
    if isinstance(value, str):
        return {"text": value}
    return {"messages": value}


def iter_normalized(path: str | os.PathLike[str], shape: str, format: str | None = None) -> Iterator[dict[str, Any]]:
    """Valid records of a local file in the internal ``shape`` (invalid ones skipped)."""
    fmt = get_format(format) if format else detect_file_format(path)
    check_convertible(fmt, shape)
    for _, record, error in iter_raw(path):
        if error is None and isinstance(record, dict) and not fmt.validate(record):
            yield _normalize(fmt, record, shape)


def check_for_training(path: str | os.PathLike[str], shape: str, format: str | None = None) -> ValidationReport:
    """Validate before any model loads: unusable data stops here, with the reason."""
    report = validate_file(path, format)
    check_convertible(get_format(report.format), shape)
    if report.valid == 0:
        first = report.errors[0] if report.errors else None
        raise DataError(
            f"{path}: none of the {report.total} records is valid {report.format} data"
            + (f" (line {first.line}: {first.message})" if first else "")
            + ".",
            hint=f"Run `lf data validate {path}` to see every problem.",
        )
    return report


def load_for_training(
    source: str | os.PathLike[str],
    shape: str,
    *,
    format: str | None = None,
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "train",
    subset: str | None = None,
    revision: str | None = None,
) -> Any:
    """A ``datasets.Dataset`` (or ``IterableDataset`` when streaming) in the internal ``shape``.

    ``source`` is a local file (``str`` or ``pathlib.Path``), a storage URL (``s3://``, ``gs://``,
    ``hf://``, ``file://``: the file is copied once into ``$LARGEFORGE_HOME/remote``, see
    :mod:`lf.storage`) or a Hugging Face hub id (``org/name``). ``subset`` (the dataset's
    configuration name), ``split`` and ``revision`` are passed to ``datasets.load_dataset`` for a
    hub id and refused for anything else (except the default ``split: train``).

    ``streaming``: records are read, converted and handed on one at a time (a file larger than
    memory works; the validation pass streams too), as an ``IterableDataset`` with no length.
    """
    from lf.storage import is_remote, local_path

    datasets = _datasets()
    if isinstance(source, str) and is_hub_id(source):
        return _load_hub(
            source, shape, split=split, streaming=streaming, format=format, subset=subset, revision=revision
        )
    if subset or revision or split != "train":
        raise DataError(
            f"{source}: subset, split and revision choose part of a Hugging Face hub dataset; a file has none.",
            hint="Drop data_subset / data_split / data_revision, or give a hub id (org/name).",
        )
    if is_remote(source):
        from lf.storage import fetch

        source = fetch(os.fspath(source))
    source = local_path(source) if isinstance(source, str) else source
    check_for_training(source, shape, format)
    path = str(Path(source).resolve())
    stat = os.stat(path)
    gen_kwargs = {"path": path, "shape": shape, "format": format}
    if streaming:
        return datasets.IterableDataset.from_generator(iter_normalized, gen_kwargs=gen_kwargs)
    # the fingerprint includes size and mtime so an edited file is never served from cache
    import hashlib

    key = f"{path}|{shape}|{format}|{stat.st_size}|{stat.st_mtime_ns}"
    return datasets.Dataset.from_generator(
        iter_normalized,
        gen_kwargs=gen_kwargs,
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        fingerprint=hashlib.sha256(key.encode()).hexdigest()[:32],
    )


def hub_unreachable_reason(timeout: float = 3.0) -> str | None:
    """Why the Hub (``HF_ENDPOINT``) cannot be reached, or None; skipped when ``HF_HUB_OFFLINE`` is set."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return None  # offline mode: datasets answers from its cache or fails on its own
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc})"


def _load_hub(
    source: str,
    shape: str,
    *,
    split: str,
    streaming: bool,
    format: str | None,
    subset: str | None = None,
    revision: str | None = None,
) -> Any:
    datasets = _datasets()
    reason = hub_unreachable_reason()
    if reason:
        raise DataError(
            f"'{source}' is not a local file, and the Hugging Face Hub is unreachable: {reason}.",
            hint="Pass a local .jsonl/.json/.parquet file, or fix the network (HF_ENDPOINT for a mirror).",
        )
    try:
        raw = datasets.load_dataset(source, subset, split=split, streaming=streaming, revision=revision)
    except Exception as exc:
        raise DataError(
            f"Could not load the dataset '{source}' from the Hugging Face Hub: {type(exc).__name__}: {str(exc)[:300]}",
            hint="Check the name and your network (HF_TOKEN for private data), "
            "or download it and pass a local .jsonl/.parquet file.",
        ) from exc
    first = next(iter(raw), None)
    if first is None:
        raise DataError(f"The dataset '{source}' ({split}) is empty.")
    from lf.data.detect import detect_record

    fmt = get_format(format) if format else detect_record(first)
    if fmt is None:
        raise DataError(
            f"Cannot tell the format of '{source}': its columns are {sorted(first)}.", hint="Pass format: NAME."
        )
    check_convertible(fmt, shape)
    return raw.map(lambda r: _normalize(fmt, r, shape), remove_columns=list(first))


def split_dataset(dataset: Any, val_ratio: float, seed: int = 42) -> tuple[Any, Any | None]:
    """``(train, val)``; ``val`` is None when ``val_ratio`` is 0 or the data is too small."""
    if val_ratio <= 0 or len(dataset) < 2:
        return dataset, None
    parts = dataset.train_test_split(test_size=val_ratio, seed=seed)
    return parts["train"], parts["test"]
