"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from lf.errors import InvalidRequestError, LFError

#: The code for an HTTP status that did not come from an :class:`LFError` (routing, body size...).
STATUS_CODES = {
    400: "INVALID_REQUEST",
    401: "AUTHENTICATION_FAILED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
    503: "MODEL_OVERLOADED",
    504: "TIMEOUT",
}

_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def error_body(code: str, message: str, *, param: str | None = None, hint: str | None = None) -> dict[str, Any]:
    """The JSON body of an error response (also sent as an SSE frame mid-stream)."""
    error: dict[str, Any] = {"message": message, "type": code.lower(), "param": param, "code": code}
    if hint:
        error["hint"] = hint
    return {"error": error}


def lf_error_body(exc: LFError) -> dict[str, Any]:
    """``error_body`` for an :class:`LFError` (its ``param`` detail, when set, names the field)."""
    param = exc.details.get("param") if exc.details else None
    return error_body(exc.code, exc.message, param=param, hint=exc.hint)


def with_retry_after(exc: LFError, seconds: float) -> LFError:
    """Attach a Retry-After (seconds) that the error response will carry."""
    exc.retry_after = seconds  # type: ignore[attr-defined]
    return exc


def decode_error(exc: msgspec.MsgspecError) -> InvalidRequestError:
    """A body that does not decode or validate, as INVALID_REQUEST naming the field (never its value)."""
    text = str(exc)
    match = _PATH.search(text)
    param = match["path"] if match else None
    problem = text[: match.start()] if match else text
    message = f"Invalid request body: {problem}" + (f" (field '{param}')" if param else "")
    return InvalidRequestError(message, details={"param": param} if param else None)
