from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_cpu_thread(monkeypatch):
    """One torch thread, here and in `lf` subprocesses: on a shared machine OpenMP threads waiting for a
    busy core make small matrix products 10-100x slower."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
