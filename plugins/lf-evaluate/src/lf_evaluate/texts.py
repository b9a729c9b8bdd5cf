"""Texts for evaluation and calibration: from a data file of any lf format, a plain text file, or a bundled set.

* A data file (``.jsonl``, ``.json``, ``.parquet``): its format is detected through
  ``lf.data`` (every registered format works); each valid record becomes one text - chat
  records their turns' contents, ``text`` records their text, preference records the
  prompt followed by the chosen answer.
* Any other file is plain UTF-8 text: one text per paragraph (blank-line separated), or
  one per line when it has no blank lines.
* :func:`bundled_texts` gives the small sets shipped with this package (``heldout``).
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from lf.errors import DataError

DATA_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines", ".json", ".parquet", ".pq")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_plain_text(text: str) -> list[str]:
    """Paragraphs of ``text`` (blank-line separated), or its lines when it has no blank line."""
    text = text.replace("\r\n", "\n").strip()
    parts = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.split("\n")
    return [p.strip() for p in parts if p.strip()]


def bundled_texts(name: str = "heldout") -> list[str]:
    """A text set shipped inside this package (``heldout``: varied English prose, dialogue and code)."""
    path = resources.files("lf_evaluate") / "data" / f"{name}.txt"
    if not path.is_file():
        raise DataError(f"There is no bundled text set '{name}'.", hint="Use 'heldout', or pass a file.")
    return split_plain_text(path.read_text(encoding="utf-8"))


def _record_texts(path: Path) -> list[str]:
    from lf.data.convert import messages_to_text, to_internal
    from lf.data.detect import detect_file_format
    from lf.data.formats import Preference
    from lf.data.io import iter_raw

    fmt = detect_file_format(path)
    shape = "preference" if fmt.shape == "preference" else "text"
    texts: list[str] = []
    for _, record, error in iter_raw(path):
        if error is not None or not isinstance(record, dict) or fmt.validate(record):
            continue
        value = to_internal(fmt, record, shape)
        if isinstance(value, Preference):
            value = messages_to_text([*value.prompt, *value.chosen])
        if isinstance(value, str) and value.strip():
            texts.append(value.strip())
    return texts


def load_texts(path: str | os.PathLike[str] | None, *, max_samples: int | None = None) -> list[str]:
    """The texts of ``path`` (see the module docstring); ``None`` or ``""`` means the bundled held-out set."""
    if path is None or str(path) == "":
        texts = bundled_texts("heldout")
    else:
        p = Path(path)
        if not p.exists():
            raise DataError(f"Text file not found: {p}", hint="Check the path, or leave it out for the bundled set.")
        if p.is_dir():
            raise DataError(f"{p} is a directory; give a data file (.jsonl/.json/.parquet) or a text file.")
        if p.suffix.lower() in DATA_SUFFIXES:
            texts = _record_texts(p)
        else:
            try:
                texts = split_plain_text(p.read_text(encoding="utf-8"))
            except UnicodeDecodeError as exc:
                raise DataError(f"{p} is not UTF-8 text ({exc}).", hint="Give a UTF-8 text or a data file.") from exc
        if not texts:
            raise DataError(
                f"{p} holds no usable text.",
                hint=f"Run `lf data validate {p}` for a data file; a text file needs text.",
            )
    return texts[:max_samples] if max_samples else texts
