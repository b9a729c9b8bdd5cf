"""Logging: human-readable by default, JSON lines with ``LF_LOG_FORMAT=json``.

The JSON shape is the requirements' one::

    {"timestamp": "2024-12-01T10:30:00.000Z", "level": "INFO", "logger": "lf.train",
     "message": "epoch done", "context": {"epoch": 1, "loss": 0.52}}

Pass structured fields with ``logger.info("epoch done", extra={"context": {...}})``.
Secrets and prompts never reach a log: context keys that name a secret (key, token,
password, authorization...) or user content (prompt, messages, content...) are replaced
by ``"[redacted]"`` whatever the caller passed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

_SECRET_KEYS = re.compile(r"(api[_-]?key|secret|password|passwd|authorization|cookie|credential|(^|_)token$)", re.I)
_CONTENT_KEYS = re.compile(
    r"^(prompt|prompts|messages|content|input|inputs|text|query|completion|response|body)$", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """Remove bearer tokens from free text."""
    return _BEARER.sub(r"\1" + REDACTED, text)


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secrets and user content replaced by ``[redacted]``."""
    if key and (_SECRET_KEYS.search(key) or _CONTENT_KEYS.match(key)):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line, in the requirements' shape."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize ``record`` (its ``context`` extra is redacted)."""
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        body: dict[str, Any] = {
            "timestamp": ts,
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        context = getattr(record, "context", None)
        if context:
            body["context"] = redact(context)
        if record.exc_info and record.exc_info[0] is not None:
            body["error"] = {"type": record.exc_info[0].__name__, "message": str(record.exc_info[1])}
        return json.dumps(body, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message key=value ...`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` on one line."""
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{ts} {record.levelname:<7} {record.name}: {scrub(record.getMessage())}"
        context = getattr(record, "context", None)
        if context:
            line += " " + " ".join(f"{k}={v}" for k, v in redact(context).items())
        return line


def log_format() -> str:
    """``"json"`` or ``"text"`` from ``LF_LOG_FORMAT``."""
    return "json" if os.environ.get("LF_LOG_FORMAT", "").lower() == "json" else "text"


def setup_logging(level: int | str = logging.WARNING, *, fmt: str | None = None, stream: Any = None) -> None:
    """Configure the ``lf`` logger tree once (idempotent)."""
    root = logging.getLogger("lf")
    level_value = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    root.setLevel(level_value)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if (fmt or log_format()) == "json" else TextFormatter())
    for old in list(root.handlers):
        if getattr(old, "_lf_handler", False):
            root.removeHandler(old)
    handler._lf_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``lf`` tree."""
    return logging.getLogger(name if name.startswith("lf") else f"lf.{name}")
