"""The JSON Lines training log (``train_log.jsonl`` beside the checkpoints): one object per log step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOG_NAME = "train_log.jsonl"


def truncate_log(log_path: str | Path, step: int) -> None:
    """Drop log lines after ``step`` (a resumed run re-logs the steps it repeats)."""
    p = Path(log_path)
    if not p.is_file():
        return
    kept = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line).get("step", 0)) <= step:
                kept.append(line)
        except (ValueError, AttributeError):
            continue
    from lf.atomic import atomic_write_text

    atomic_write_text(p, "".join(f"{line}\n" for line in kept))


def read_log(log_path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines training log."""
    p = Path(log_path)
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
