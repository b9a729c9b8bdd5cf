"""Helpers every inference backend can reuse: status, model names and limits, stop strings.

What a backend must and may implement is :class:`lf.kinds.Backend` (re-exported here for
old imports); this module holds what backends share: :func:`backend_status`,
:func:`default_model_name`, :func:`quantization_method`, :func:`max_model_len` and
:class:`StopStrings`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lf.kinds.backend import Backend
from lf.serve.schemas import BackendStatus

__all__ = ["Backend", "StopStrings", "backend_status", "default_model_name", "max_model_len", "quantization_method"]


def backend_status(backend: Any) -> BackendStatus:
    """``backend.status()`` when it has one; otherwise 'loaded' when it lists a model."""
    status = getattr(backend, "status", None)
    if callable(status):
        result = status()
        if isinstance(result, BackendStatus):
            return result
    try:
        return BackendStatus(loaded=bool(backend.models()))
    except Exception as exc:  # a backend that cannot list its models is not serving
        return BackendStatus(loaded=False, error=f"{type(exc).__name__}: {exc}")


def default_model_name(path: str) -> str:
    """The name clients use for a model directory: its last path component (or the hub id)."""
    p = Path(path)
    return p.name if p.exists() and p.name else path


def quantization_method(path: str | os.PathLike[str]) -> str | None:
    """The quantization method a model directory declares (``config.json``), or None."""
    config_file = Path(path) / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ours = config.get("lf_quantization")  # written by lf's quantizers: the method users chose
    if isinstance(ours, dict) and isinstance(ours.get("method"), str):
        return ours["method"]
    quant = config.get("quantization_config") or {}
    if not isinstance(quant, dict):
        return None
    method = quant.get("quant_method")
    if method == "bitsandbytes":
        bits = "4bit" if quant.get("load_in_4bit") else "8bit" if quant.get("load_in_8bit") else None
        return f"bitsandbytes-{bits}" if bits else "bitsandbytes"
    if method == "compressed-tensors":
        fmt = quant.get("format")
        return f"compressed-tensors-{fmt}" if isinstance(fmt, str) else "compressed-tensors"
    return str(method) if method else None


def max_model_len(path: str | os.PathLike[str]) -> int | None:
    """``max_position_embeddings`` (or equivalent) from ``config.json``, if any."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = config.get(key)
        if isinstance(value, int):
            return value
    return None


class StopStrings:
    """Cuts streamed text at the first stop string, holding back what could start one.

    ``feed(new_text)`` returns the text that is safe to emit now and whether a stop
    string was met (the text is then cut before it); ``flush()`` returns what was held back.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        """Add generated text; returns ``(text to emit, stopped)``."""
        if self.stopped:
            return "", True
        if not self.stops:
            return text, False
        self._buffer += text
        cut = min((i for i in (self._buffer.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self._buffer, self.stopped = self._buffer[:cut], "", True
            return out, True
        if self._hold == 0:
            out, self._buffer = self._buffer, ""
            return out, False
        keep = self._partial_suffix()
        out = self._buffer[: len(self._buffer) - keep]
        self._buffer = self._buffer[len(self._buffer) - keep :]
        return out, False

    def _partial_suffix(self) -> int:
        """Length of the longest buffer suffix that is a prefix of some stop string."""
        best = 0
        buf = self._buffer
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(buf)), best, -1):
                if buf.endswith(stop[:n]):
                    best = n
                    break
        return best

    def flush(self) -> str:
        """Whatever is held back (call when generation ends without a stop string)."""
        out, self._buffer = ("" if self.stopped else self._buffer), ""
        return out
