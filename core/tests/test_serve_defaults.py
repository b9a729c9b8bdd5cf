"""A server's own sampling defaults (``defaults.*``) fill what a request omits; unset, OpenAI's apply.

Real servers on 127.0.0.1 and the official openai client; the echo backend records the
sampling values the server hands it (the only thing a test cannot read from a real model).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from lf.serve.app import create_app
from lf.serve.config import RequestDefaults
from lf.testing import running_server, wait_ready
from lf.testing.echo_backend import EchoBackend, EchoConfig

#: The requirements' defaults (SRS): what an operator may choose for a server.
SRS = RequestDefaults(temperature=0.7, top_p=0.9, top_k=50, max_tokens=256)


class RecordingEcho(EchoBackend):
    """The echo backend, keeping every request the server passed on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def stream(self, request: Any) -> Any:
        self.seen.append(request)
        return super().stream(request)


@contextmanager
def server(defaults: RequestDefaults) -> Iterator[tuple[openai.OpenAI, RecordingEcho]]:
    backend = RecordingEcho()
    with running_server(create_app(backend, EchoConfig(model="echo", defaults=defaults))) as url:
        wait_ready(url)
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0), backend


def sampling(request: Any) -> tuple[float, float, int, int | None]:
    return request.temperature, request.top_p, request.top_k, request.max_tokens


def test_server_defaults_fill_what_requests_omit_and_openai_defaults_otherwise() -> None:
    ask = [{"role": "user", "content": "one two three"}]
    with server(SRS) as (client, backend):
        client.chat.completions.create(model="echo", messages=ask)
        client.completions.create(model="echo", prompt="one two")
        client.chat.completions.create(model="echo", messages=ask, temperature=0.2, top_p=0.5, max_tokens=2)
        assert [sampling(r) for r in backend.seen] == [(0.7, 0.9, 50, 256), (0.7, 0.9, 50, 256), (0.2, 0.5, 50, 2)]
    with server(RequestDefaults()) as (client, backend):
        client.chat.completions.create(model="echo", messages=ask)
        client.chat.completions.create(model="echo", messages=ask, temperature=0.0)
        assert [sampling(r) for r in backend.seen] == [(1.0, 1.0, -1, None), (0.0, 1.0, -1, None)]
