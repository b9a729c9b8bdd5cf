"""Request ids, timing and one access-log line per request (never a prompt or a key)."""

from __future__ import annotations

import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lf.logs import get_logger
from lf.serve.wire import request_id

access_log = get_logger("lf.serve.access")


def timing_middleware(app: ASGIApp) -> ASGIApp:
    """Stamp the arrival time and request id before anything else runs."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["lf_t0"] = time.perf_counter()
        request_id(scope)
        await app(scope, receive, send)

    return middleware


async def before_send(message: Message, scope: Scope) -> None:
    """Add ``X-Request-ID`` to every response; write one access-log line when it ends.

    A request refused before it reached the work (400, 401, 404, 429, 503...) is counted
    here by the service (:meth:`lf.serve.service.Service.count_refused`).
    """
    if scope.get("type") != "http":
        return
    state = scope.setdefault("state", {})
    if message["type"] == "http.response.start":
        rid = request_id(scope)
        message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
        state["lf_status"] = message["status"]
    elif message["type"] == "http.response.body" and not message.get("more_body", False):
        status = state.get("lf_stream_status", state.get("lf_status_override", state.get("lf_status")))
        service = scope["app"].state.get("lf_service")
        if service is not None and not state.get("lf_counted"):
            service.count_refused(str(scope.get("path")), state.get("lf_model") or "-", status)
        t0 = state.get("lf_t0")
        client = scope.get("client")
        access_log.info(
            "request",
            extra={
                "context": {
                    "request_id": request_id(scope),
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - t0) * 1000, 2) if t0 else None,
                    "model": state.get("lf_model"),
                    "expert": state.get("lf_expert"),
                    "caller": state.get("lf_caller"),
                    "client": client[0] if client else None,
                    "completion_tokens": state.get("lf_tokens"),
                }
            },
        )
