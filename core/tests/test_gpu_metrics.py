"""``gpu_utilization_ratio`` in ``/metrics``: NVML read where it exists, nothing (and no error) where it does not.

This machine has no GPU and no NVML: the NVML path runs against a stand-in ``pynvml`` module
(the one thing here that cannot be real), the absent path for real.
"""

from __future__ import annotations

import sys
import types

import pytest

from lf.serve import gpu
from lf.serve.metrics import ServerMetrics, parse_labels


@pytest.fixture
def fresh_nvml(monkeypatch):
    monkeypatch.setattr(gpu, "_nvml", None)
    monkeypatch.setattr(gpu, "_unavailable", False)


def test_without_nvml_there_is_no_sample_and_no_error(fresh_nvml, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml fails, as without nvidia-ml-py
    assert gpu.gpu_utilization() == {}
    text = ServerMetrics().render(queued=0).decode()
    assert "# TYPE gpu_utilization_ratio gauge" in text and "gpu_utilization_ratio{" not in text


def test_two_gpus_read_through_nvml(fresh_nvml, monkeypatch):
    busy = {0: 35, 1: 90}
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(gpu=busy[handle], memory=0),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert gpu.gpu_utilization() == {"0": 0.35, "1": 0.9}
    samples = parse_labels(ServerMetrics().render(queued=3).decode())
    assert samples['gpu_utilization_ratio{device="0"}'] == 0.35 and samples['gpu_utilization_ratio{device="1"}'] == 0.9
    assert samples["queued_requests"] == 3
