"""Convert records between formats through the internal shapes (messages, preference, text)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import msgspec

from lf.data.detect import detect_file_format, get_format
from lf.data.formats import Message, Preference
from lf.data.io import iter_raw, write_records
from lf.errors import DataError


class ConvertReport(msgspec.Struct, kw_only=True):
    """What ``lf data convert`` did."""

    source: str
    target: str
    source_format: str
    target_format: str
    written: int = 0
    skipped: int = 0
    examples: list[str] = []


_CONVERTERS = {"chat": ("to_messages",), "preference": ("to_preference",), "text": ("to_text", "to_messages")}


def check_convertible(fmt: Any, shape: str) -> None:
    """Raise a clear :class:`DataError` when ``fmt`` records cannot become ``shape``."""
    if shape not in _CONVERTERS:
        raise DataError(f"Unknown shape '{shape}'; expected one of {', '.join(_CONVERTERS)}.")
    if any(hasattr(fmt, method) for method in _CONVERTERS[shape]):
        return
    if shape == "preference":
        raise DataError(
            f"{fmt.name} records have no rejected answer, so they cannot become preference pairs.",
            hint="Generate pairs with `lf generate preferences`, or use a dpo-format file.",
        )
    raise DataError(f"{fmt.name} records ({fmt.shape}) cannot become {shape} records.")


def to_internal(fmt: Any, record: dict[str, Any], shape: str) -> Any:
    """One record in the internal ``shape``: messages (chat), :class:`Preference`, or text."""
    check_convertible(fmt, shape)
    if shape == "chat":
        return fmt.to_messages(record)
    if shape == "preference":
        return fmt.to_preference(record)
    if hasattr(fmt, "to_text"):
        return fmt.to_text(record)
    return messages_to_text(fmt.to_messages(record))


def messages_to_text(messages: list[Message]) -> str:
    """Plain text of a conversation (contents separated by blank lines)."""
    return "\n\n".join(m["content"] for m in messages if m["content"])


def from_internal(fmt: Any, value: Any) -> dict[str, Any]:
    """A record of ``fmt`` holding an internal value."""
    if isinstance(value, Preference):
        return dict(fmt.from_preference(value))
    if isinstance(value, str):
        return dict(fmt.from_text(value))
    return dict(fmt.from_messages(value))


def convert_file(
    source: str | os.PathLike[str], target: str | os.PathLike[str], to: str, *, from_format: str | None = None
) -> ConvertReport:
    """Convert every valid record of ``source`` into format ``to`` in ``target`` (atomic write)."""
    if os.path.abspath(source) == os.path.abspath(target):
        raise DataError("The output file must differ from the input file.")
    src_fmt = get_format(from_format) if from_format else detect_file_format(source)
    dst_fmt = get_format(to)
    shape = dst_fmt.shape
    report = ConvertReport(
        source=str(source), target=str(target), source_format=src_fmt.name, target_format=dst_fmt.name
    )

    def records() -> Iterator[dict[str, Any]]:
        for line, record, error in iter_raw(source):
            problems = (
                [error] if error else (src_fmt.validate(record) if isinstance(record, dict) else ["not an object"])
            )
            if not problems:
                try:
                    yield from_internal(dst_fmt, to_internal(src_fmt, record, shape))
                    continue
                except (ValueError, TypeError) as exc:
                    problems = [str(exc)]
            report.skipped += 1
            if len(report.examples) < 10:
                report.examples.append(f"line {line}: {'; '.join(problems)}")

    check_convertible(src_fmt, shape)  # fail before writing anything
    report.written = write_records(target, records())
    if report.written == 0:
        os.unlink(target)
        raise DataError(
            f"No record of {source} could be converted to {to}.", hint="; ".join(report.examples[:3]) or None
        )
    return report
