"""The quality report: sizes on disk, compression ratio, perplexity before/after and a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lf_quantize.checks import WEIGHT_SUFFIXES


def dir_size(path: str | Path) -> int:
    """Bytes of every file under ``path`` (what the directory costs on disk)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def weights_size(path: str | Path) -> int:
    """Bytes of the weight files only (``*.safetensors``, ``*.bin``...)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and f.suffix in WEIGHT_SUFFIXES)


def increase_pct(before: float, after: float) -> float:
    """Relative perplexity increase in percent (negative when it improved)."""
    return (after - before) / before * 100.0


def verdict(before: float, after: float, limit_pct: float) -> Literal["pass", "warn"]:
    """``pass`` when perplexity rose by at most ``limit_pct`` percent, else ``warn``."""
    return "pass" if increase_pct(before, after) <= limit_pct else "warn"


def human_bytes(n: float) -> str:
    """``1.5 MiB`` style sizes."""
    if abs(n) < 1024:
        return f"{n:.0f} B"
    units = ["KiB", "MiB", "GiB"]
    n /= 1024
    while abs(n) >= 1024 and len(units) > 1:
        n /= 1024
        units.pop(0)
    return f"{n:.1f} {units[0]}"
