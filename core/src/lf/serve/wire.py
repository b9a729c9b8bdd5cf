"""The OpenAI wire format on the way out: JSON responses, request ids, Server-Sent Events.

Shared by the model server and the router (and by plugins that add routes): one
encoder, one SSE framing (``data: {...}`` events, then ``data: [DONE]``), one way to
name a request, and the two edits the router makes to an answer it relays (a field
added to a JSON body or to the first event of a stream).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from litestar import Response
from litestar.types import Scope

from lf.errors import InvalidRequestError
from lf.serve.openai_errors import decode_error

JSON = "application/json"
#: The last event of every stream.
SSE_DONE = b"data: [DONE]\n\n"
#: Headers of a streamed answer (no proxy buffering, no caching).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
encode = _encoder.encode


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    """A JSON response encoded with msgspec."""
    return Response(content=encode(data), status_code=status, media_type=JSON, headers=headers)


def sse(data: Any) -> bytes:
    """One Server-Sent Event frame."""
    return b"data: " + encode(data) + b"\n\n"


def request_id(scope: Scope) -> str:
    """The request's id: the client's ``X-Request-ID`` when sane, else a new one (kept in scope)."""
    state = scope.setdefault("state", {})
    rid = state.get("lf_request_id")
    if rid is None:
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state["lf_request_id"] = rid
    return str(rid)


def decode_body(raw: bytes, type_: Any) -> Any:
    """``raw`` decoded strictly as ``type_``; anything malformed is a 400 naming the field, never a 500."""
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.MsgspecError as exc:
        raise decode_error(exc) from None
    except UnicodeDecodeError:
        raise InvalidRequestError("The request body is not valid UTF-8.") from None
    except RecursionError:
        raise InvalidRequestError("The request body is nested too deeply.") from None


def with_field(body: bytes, name: str, value: Any) -> bytes:
    """``body`` (a JSON object) with one more top-level field; unchanged if it is not one."""
    try:
        data = _decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return body
    if not isinstance(data, dict):
        return body
    data[name] = value
    return encode(data)


def first_event_with_field(chunk: bytes, name: str, value: Any) -> bytes:
    """The first SSE ``data:`` event of ``chunk`` with one more field (what a relayed stream says on fallback)."""
    prefix = b"data: "
    start = chunk.find(prefix)
    if start < 0:
        return chunk
    end = chunk.find(b"\n\n", start)
    if end < 0:
        return chunk
    event = chunk[start + len(prefix) : end]
    return chunk[: start + len(prefix)] + with_field(event, name, value) + chunk[end:]
