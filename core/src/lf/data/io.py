"""Reading and writing record files: JSONL, JSON (an array) and Parquet.

Readers stream: a JSONL file is read in chunks that end on a line boundary, so files
larger than memory work; every record keeps its line (JSONL) or index (JSON, Parquet)
so that errors point at it. Writers are atomic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from lf.atomic import atomic_open
from lf.errors import DataError, DependencyMissingError

CHUNK_BYTES = 8 << 20
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")


def file_kind(path: str | os.PathLike[str]) -> str:
    """``"jsonl"``, ``"json"`` or ``"parquet"`` from the suffix (``.gz`` is not supported)."""
    suffix = Path(path).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".json":
        return "json" if _starts_with_bracket(path) else "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(
        f"{path}: unsupported file type '{suffix or '(none)'}'.",
        hint="Use .jsonl (one JSON object per line), .json (an array of objects) or .parquet.",
    )


def _starts_with_bracket(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(b"[")


def check_readable(path: str | os.PathLike[str]) -> Path:
    """The path, if it is a readable non-empty file; a clear :class:`DataError` otherwise."""
    p = Path(path)
    if not p.exists():
        raise DataError(
            f"Data file not found: {p}", hint="Check the path (relative paths start from the current directory)."
        )
    if p.is_dir():
        raise DataError(f"{p} is a directory; give a .jsonl, .json or .parquet file.")
    if p.stat().st_size == 0:
        raise DataError(f"{p} is empty: no records to use.")
    return p


def iter_chunks(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """``(first_line_number, chunk)`` pieces of a text file, each ending on a newline."""
    line = 1
    rest = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            chunk, rest = block[: cut + 1], block[cut + 1 :]
            yield line, chunk
            line += chunk.count(b"\n")
    if rest:
        yield line, rest


def iter_raw(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any, str | None]]:
    """``(line_or_index, record_or_None, error_or_None)`` for every record of a file.

    Blank JSONL lines are skipped; undecodable ones yield an error instead of a record.
    """
    p = check_readable(path)
    kind = file_kind(p)
    if kind == "jsonl":
        decoder = msgspec.json.Decoder()
        for first, chunk in iter_chunks(p):
            for offset, raw in enumerate(chunk.split(b"\n")):
                if not raw.strip():
                    continue
                try:
                    yield first + offset, decoder.decode(raw), None
                except msgspec.DecodeError as exc:
                    yield first + offset, None, describe_decode_error(raw, exc)
    elif kind == "json":
        for index, record in enumerate(_read_json_array(p), 1):
            yield index, record, None
    else:
        for index, record in enumerate(_iter_parquet(p), 1):
            yield index, record, None


def describe_decode_error(raw: bytes, exc: Exception) -> str:
    """A readable reason a JSON line failed to decode (truncated lines called out)."""
    msg = str(exc)
    if "truncated" in msg:
        return "invalid JSON: the line is cut off (half-written or truncated record)"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "the line is not valid UTF-8 text"
    return f"invalid JSON: {msg}"


def _read_json_array(path: Path) -> list[Any]:
    try:
        data = msgspec.json.decode(path.read_bytes())
    except msgspec.DecodeError as exc:
        raise DataError(
            f"{path}: invalid JSON: {exc}",
            hint="A .json file holds one array of records; use .jsonl for one record per line.",
        ) from exc
    if isinstance(data, dict):
        for key in ("data", "records", "rows", "train"):
            if isinstance(data.get(key), list):
                return list(data[key])
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of records, found {type(data).__name__}.")
    return data


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DependencyMissingError.for_package("pyarrow", "Reading and writing Parquet") from exc
    return pq


def _iter_parquet(path: Path) -> Iterator[dict[str, Any]]:
    pq = _pyarrow_parquet()
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}).") from exc
    for batch in parquet.iter_batches(batch_size=10_000):
        yield from batch.to_pylist()


def iter_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Only the decodable records (use :func:`iter_raw` to see the bad ones too)."""
    for _, record, error in iter_raw(path):
        if error is None:
            yield record


def write_records(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Write records atomically as JSONL, JSON or Parquet (by suffix); returns the count."""
    p = Path(path)
    suffix = p.suffix.lower()
    encoder = msgspec.json.Encoder()
    count = 0
    if suffix in (".parquet", ".pq"):
        pq = _pyarrow_parquet()
        import pyarrow as pa

        rows = [msgspec.to_builtins(r) for r in records]
        with atomic_open(p, "wb", encoding=None) as handle:
            pq.write_table(pa.Table.from_pylist(rows), handle)
        return len(rows)
    if suffix == ".json":
        rows = [msgspec.to_builtins(r) for r in records]
        with atomic_open(p, "wb", encoding=None) as handle:
            handle.write(msgspec.json.format(encoder.encode(rows), indent=2))
        return len(rows)
    if suffix not in JSONL_SUFFIXES:
        raise DataError(f"Cannot write '{suffix or '(no suffix)'}' files; use .jsonl, .json or .parquet.")
    with atomic_open(p, "wb", encoding=None) as handle:
        buf = bytearray()
        for record in records:
            encoder.encode_into(record, buf, -1)
            buf.extend(b"\n")
            count += 1
            if len(buf) > CHUNK_BYTES:
                handle.write(buf)
                buf.clear()
        handle.write(buf)
    return count
