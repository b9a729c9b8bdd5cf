"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from lf.errors import InvalidRequestError, LFError
from lf.serve.limits import with_retry_after

__all__ = ["STATUS_CODES", "decode_error", "error_body", "lf_error_body", "problem_error", "with_retry_after"]

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
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")


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


def problem_error(problem: str, param: str | None) -> InvalidRequestError:
    """INVALID_REQUEST for one decoding problem at ``param`` (the field's path, never its value).

    An unknown field is an OpenAI parameter this server does not implement: it is refused
    by name rather than silently ignored.
    """
    unknown = _UNKNOWN.match(problem)
    if unknown:
        name = f"{param}.{unknown['name']}" if param else unknown["name"]
        return InvalidRequestError(
            f"Unsupported parameter '{name}': this server does not implement it.",
            details={"param": name},
            hint="Remove it from the request; GET /openapi.json lists every accepted field.",
        )
    message = f"Invalid request body: {problem}" + (f" (field '{param}')" if param else "")
    return InvalidRequestError(message, details={"param": param} if param else None)


def decode_error(exc: msgspec.MsgspecError) -> InvalidRequestError:
    """A body that does not decode or validate, as INVALID_REQUEST naming the field (never its value)."""
    text = str(exc)
    match = _PATH.search(text)
    return problem_error(text[: match.start()] if match else text, match["path"] if match else None)
