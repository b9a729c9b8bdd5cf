from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def engine_python() -> str:
    """The python of the engine environment; created (minutes, once) if `make install` has not made it."""
    from lf.errors import DependencyMissingError
    from lf_quantize.engine import create_engine_env, find_engine_python, sibling_env

    try:
        return find_engine_python()
    except DependencyMissingError:
        return str(create_engine_env(sibling_env()))


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A private copy of the tiny model whose config.json a test may edit."""

    def make(**config_changes) -> Path:
        target = tmp_path / "model"
        shutil.copytree(tiny_model_dir, target)
        config = json.loads((target / "config.json").read_text())
        config.update(config_changes)
        (target / "config.json").write_text(json.dumps(config))
        return target

    return make


@pytest.fixture(autouse=True)
def one_cpu_thread(monkeypatch):
    """One torch thread, here and in every `lf` / engine subprocess (OMP_NUM_THREADS is inherited).

    On a machine shared with other jobs, OpenMP threads waiting for a busy core make small
    matrix products 10-100x slower; one thread keeps these tests' time predictable.
    """
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
