"""lf.client.RouterClient / AsyncRouterClient against a real router in front of two tiny-model servers.

Two hf servers on the tiny random chat model (one per expert, each under its own served
name), a keyword router in front of them on 127.0.0.1: a code question goes to the code
expert, a general one to the general expert (the fallback), and the client says which
answered, for plain, streamed and async calls alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lf.client import AsyncRouterClient, RouterClient
from lf.errors import ModelNotFoundError

CODE = "Fix the bug in my python function"
GENERAL = "Who painted the Mona Lisa?"


@contextlib.contextmanager
def tiny_server(model_dir: Path, name: str) -> Iterator[str]:
    from lf.serve.app import create_app
    from lf.testing import running_server, wait_ready
    from lf_backend_hf import HFConfig
    from lf_backend_hf.backend import HFBackend

    config = HFConfig(model=str(model_dir), served_model_name=name)
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        yield url


@pytest.fixture(scope="module")
def router(tiny_model_dir: Path) -> Iterator[str]:
    from lf.experts import ExpertConfig, ExpertManager, Replica
    from lf.testing import running_server, wait_ready
    from lf_router_hybrid import KeywordClassifier
    from lf_router_hybrid.service import create_router_app
    from lf_router_hybrid.service.options import RouterOptions

    with tiny_server(tiny_model_dir, "general-model") as general, tiny_server(tiny_model_dir, "code-model") as code:
        manager = ExpertManager(
            experts=[
                ExpertConfig(name="general", description="Everyday questions", endpoints=[Replica(url=general)]),
                ExpertConfig(
                    name="code",
                    description="Programming help",
                    keywords=["python", "function", "bug"],
                    endpoints=[Replica(url=code)],
                ),
            ]
        )
        app = create_router_app(
            KeywordClassifier.from_experts(manager), manager, RouterOptions(fallback_expert="general")
        )
        with running_server(app) as url:
            wait_ready(url)
            yield url


def test_router_client_routes_a_code_and_a_general_question(router: str) -> None:
    with RouterClient(router, max_retries=1) as client:
        code = client.chat(CODE, max_tokens=4)
        assert (code["expert"], code["routing"], code["model"]) == ("code", "classified", "code-model")
        assert isinstance(code["text"], str) and code["usage"]["completion_tokens"] >= 1
        general = client.chat(GENERAL, max_tokens=4)
        assert (general["expert"], general["model"]) == ("general", "general-model")
        assert general["fallback_from"] is None

        decision = client.route(CODE)
        assert decision["expert"] == "code" and decision["fallback"] is False
        assert client.route(GENERAL)["expert"] == "general"
        assert sorted(e["name"] for e in client.experts()) == ["code", "general"]
        assert client.expert("code")["keywords"] == ["python", "function", "bug"]
        with pytest.raises(ModelNotFoundError):
            client.expert("nobody")

        stream = client.stream_chat(CODE, max_tokens=4)
        pieces = list(stream)
        assert stream.expert == "code" and pieces
        completion = client.generate(GENERAL, max_tokens=3)
        assert completion["expert"] == "general" and completion["usage"]["completion_tokens"] >= 1


async def test_async_router_client(router: str) -> None:
    async with AsyncRouterClient(router, max_retries=1) as client:
        answer = await client.chat(CODE, max_tokens=4)
        assert answer["expert"] == "code" and answer["model"] == "code-model"
        assert (await client.route(GENERAL))["expert"] == "general"
        stream = client.stream_chat(GENERAL, max_tokens=4)
        pieces = [piece async for piece in stream]
        assert stream.expert == "general" and pieces
        assert len(await client.experts()) == 2
