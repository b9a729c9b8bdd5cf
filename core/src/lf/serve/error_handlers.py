"""Exception handlers: every error leaves an ``lf`` service in OpenAI's shape, never as a traceback.

* :class:`lf.errors.LFError` - its own status, code, hint (and Retry-After, WWW-Authenticate);
* Litestar's HTTP errors - body too large (413), unknown route (404), a body that does
  not validate (400 naming the field; an unknown field is an unsupported parameter);
* bodies msgspec cannot read at all - invalid UTF-8, nesting past the recursion limit - 400;
* a client that went away - 499, logged at info, not as a server error;
* anything else - 500 INTERNAL_ERROR with the request id, logged without the message.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from lf.errors import InvalidRequestError, LFError
from lf.logs import get_logger
from lf.serve.limits import retry_after_header
from lf.serve.openai_errors import STATUS_CODES, error_body, lf_error_body, problem_error
from lf.serve.wire import json_response, request_id

log = get_logger("lf.serve")
#: What Litestar raises when the client disconnects while its body is read.
_CLIENT_GONE = "client disconnected prematurely"


class ClientGoneError(Exception):
    """The client closed the connection before the answer was ready (answered 499, never sent)."""


def lf_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """An :class:`LFError` as its status and OpenAI-shaped body."""
    assert isinstance(exc, LFError)
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = retry_after_header(retry)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return json_response(lf_error_body(exc), status=exc.http_status, headers=headers)


def http_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar's own errors (routing, body size, validation) in OpenAI's shape."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ValidationException):
        return lf_error_response(request, _validation_error(exc))
    status = exc.status_code
    if status == 500 and exc.detail == _CLIENT_GONE:
        return client_gone_response(request, ClientGoneError())
    code = STATUS_CODES.get(status, "INVALID_REQUEST" if status < 500 else "INTERNAL_ERROR")
    message = str(exc.detail) if status != 413 else "The request body is larger than the server accepts."
    return json_response(error_body(code, message), status=status, headers=dict(exc.headers or {}))


def _validation_error(exc: ValidationException) -> InvalidRequestError:
    problems = exc.extra if isinstance(exc.extra, list) else []
    first = problems[0] if problems and isinstance(problems[0], dict) else {}
    key = str(first.get("key") or "")
    if key == "data" or key.startswith("data."):  # the body itself, as Litestar names it
        key = key[5:]
    return problem_error(str(first.get("message") or exc.detail), key or None)


def unreadable_body_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Invalid UTF-8 or too deep a nesting: the body cannot be read, a 400 (not a 500)."""
    if isinstance(exc, UnicodeDecodeError):
        error = InvalidRequestError("The request body is not valid UTF-8.")
    else:
        error = InvalidRequestError("The request body is nested too deeply.")
    return lf_error_response(request, error)


def client_gone_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The client left: nothing to send; the access log records 499."""
    request.scope.setdefault("state", {})["lf_status_override"] = 499
    return Response(content=b"", status_code=499)


def internal_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Anything unexpected: 500 with the request id; the log names the error type, not its text."""
    rid = request_id(request.scope)
    log.error(
        "unhandled error", extra={"context": {"request_id": rid, "error": type(exc).__name__, "path": request.url.path}}
    )
    return json_response(error_body("INTERNAL_ERROR", f"Internal server error (request id {rid})."), status=500)


#: The handlers, as ``AppConfig.exception_handlers`` takes them.
EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    LFError: lf_error_response,
    HTTPException: http_error_response,
    UnicodeDecodeError: unreadable_body_response,
    RecursionError: unreadable_body_response,
    ClientGoneError: client_gone_response,
    Exception: internal_error_response,
}
