"""What the sync and async ``lf.client`` classes share: the OpenAI wire format, error mapping, retries."""

from __future__ import annotations

import json
import random
from typing import Any

from lf import errors

ERRORS_BY_CODE: dict[str, type[errors.LFError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidRequestError,
        errors.AuthenticationError,
        errors.ForbiddenError,
        errors.ModelNotFoundError,
        errors.PayloadTooLargeError,
        errors.RateLimitedError,
        errors.ModelOverloadedError,
        errors.RequestTimeoutError,
        errors.InternalError,
    )
}
ERRORS_BY_STATUS = {cls.http_status: cls for cls in ERRORS_BY_CODE.values()}
RETRY_STATUSES = frozenset({429, 502, 503})


def import_httpx() -> Any:
    """The httpx module (a missing-dependency error naming the extra when it is not installed)."""
    try:
        import httpx
    except ImportError:
        raise errors.missing_dependency("httpx", "lf.client", "'lf-core[client]'") from None
    return httpx


def error_from_response(status: int, body: bytes | str) -> errors.LFError:
    """The :mod:`lf.errors` exception for an error answer (OpenAI's error shape)."""
    try:
        data = json.loads(body)
        info = data.get("error", data) if isinstance(data, dict) else {}
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    message = str(info.get("message") or f"HTTP {status}")
    cls = ERRORS_BY_CODE.get(str(info.get("code")), ERRORS_BY_STATUS.get(status, errors.InternalError))
    return cls(message, hint=info.get("hint"), details={"status": status, "code": info.get("code")})


def chat_messages(
    message: str | None, messages: list[dict[str, Any]] | None, system: str | None
) -> list[dict[str, Any]]:
    """``messages`` with ``system`` first (unless one is there) and ``message`` as the last user turn."""
    if messages is None and message is None:
        raise errors.InvalidRequestError("Pass `message` or `messages`.")
    out = list(messages or [])
    if system is not None and not any(m.get("role") == "system" for m in out):
        out.insert(0, {"role": "system", "content": system})
    if message is not None:
        out.append({"role": "user", "content": message})
    return out


def with_text(data: dict[str, Any], chat: bool) -> dict[str, Any]:
    """Add ``text`` (the first choice's text) to a completion response."""
    choice = (data.get("choices") or [{}])[0]
    data["text"] = (choice.get("message") or {}).get("content", "") if chat else choice.get("text", "")
    data["finish_reason"] = choice.get("finish_reason")
    return data


def stream_delta_text(event: dict[str, Any], chat: bool) -> str:
    """The text a streamed event adds (raises the :mod:`lf.errors` class of an error event)."""
    if "error" in event:
        info = event["error"] if isinstance(event["error"], dict) else {}
        raise ERRORS_BY_CODE.get(str(info.get("code")), errors.InternalError)(str(info.get("message", "stream failed")))
    choices = event.get("choices") or []
    if not choices:
        return ""
    return (choices[0].get("delta") or {}).get("content") or "" if chat else choices[0].get("text") or ""


class ClientBase:
    """Settings, the retry delays and the request body shared by the sync and async clients."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        model: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds before retry ``attempt``: Retry-After when given, else exponential backoff with jitter."""
        if retry_after:
            try:
                return min(self.max_backoff, float(retry_after))
            except ValueError:
                pass
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return float(base * (0.5 + random.random() / 2))

    def _body(self, model: str | None, stream: bool, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of a completion request (parameters given as None are left out)."""
        chosen = model or self.model
        body = {k: v for k, v in params.items() if v is not None}
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
        if chosen is not None:
            body["model"] = chosen
        return body

    def _retryable(self, exc: Exception) -> bool:
        """Whether ``exc`` is a connection error or timeout worth retrying."""
        httpx = import_httpx()
        return isinstance(exc, (httpx.TransportError, httpx.TimeoutException))
