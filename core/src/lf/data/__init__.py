"""Data: formats (built-in plugins), validation, conversion, splitting, stats and loading.

The public names below are imported on first use, so ``import lf.data.formats`` (done while
plugins register) stays cheap. ``datasets``, ``pyarrow`` and tokenizers are imported only
by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConvertReport": "convert",
    "convert_file": "convert",
    "to_internal": "convert",
    "all_formats": "detect",
    "detect_file_format": "detect",
    "detect_record": "detect",
    "get_format": "detect",
    "Preference": "formats",
    "iter_raw": "io",
    "iter_records": "io",
    "write_records": "io",
    "check_for_training": "load",
    "iter_normalized": "load",
    "load_for_training": "load",
    "split_dataset": "load",
    "SplitReport": "split",
    "split_file": "split",
    "DataStats": "stats",
    "stats_file": "stats",
    "ValidationReport": "validate",
    "validate_file": "validate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lf.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lf.data' has no attribute {name!r}")
