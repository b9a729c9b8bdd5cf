"""A minimal OpenAI-shaped upstream (raw ASGI, no framework) for router benchmarks.

It answers ``POST /v1/chat/completions`` and ``/v1/completions`` with a fixed small
completion (streamed as three SSE events when ``"stream": true``), ``GET /v1/models``,
``/health`` and ``/ready`` - as fast as uvicorn allows, so that what sits in front of it
(our router, a LiteLLM proxy) is what a benchmark measures.

Run: python bench/_upstream.py PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

MODEL = "echo"
CHAT = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
).encode()
TEXT = json.dumps(
    {
        "id": "cmpl-bench",
        "object": "text_completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "text": "Hello there.", "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}).encode()
HEALTH = b'{"status":"healthy"}'
READY = b'{"ready":true}'


def _chunk(content: str | None, finish: str | None) -> bytes:
    delta = {} if content is None else {"content": content}
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


STREAM = [_chunk("Hello", None), _chunk(" there.", None), _chunk(None, "stop"), b"data: [DONE]\n\n"]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.endswith("/chat/completions") and b'"stream":true' in body.replace(b" ", b""):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for event in STREAM:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    content = {
        "/v1/chat/completions": CHAT,
        "/v1/completions": TEXT,
        "/v1/models": MODELS,
        "/health": HEALTH,
        "/ready": READY,
    }.get(path)
    status = 200 if content is not None else 404
    content = content if content is not None else b'{"error":{"message":"not found","code":"NOT_FOUND"}}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
