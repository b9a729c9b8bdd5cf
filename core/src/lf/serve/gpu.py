"""GPU utilization from NVIDIA's NVML, for ``gpu_utilization_ratio`` in ``/metrics`` (what the GPU autoscaler reads).

NVML comes with the NVIDIA driver; its Python binding is ``nvidia-ml-py`` (module ``pynvml``,
``pip install 'lf-core[nvml]'``, in the CUDA server image). Without either, or without a GPU,
:func:`gpu_utilization` returns nothing and the metric has no samples: the scrape never fails
and the server never slows down for it (a failed start of NVML is not retried).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_nvml: Any = None
_unavailable = False


def _library() -> Any:
    """``pynvml``, initialized once; None where it cannot work here."""
    global _nvml, _unavailable
    with _lock:
        if _nvml is not None or _unavailable:
            return _nvml
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # no binding, no driver, no GPU: nothing to report
            _unavailable = True
            return None
        _nvml = pynvml
        return _nvml


def gpu_utilization() -> dict[str, float]:
    """``{device index: busy fraction 0..1}`` over NVML's last sample period, for each GPU this process sees."""
    nvml = _library()
    if nvml is None:
        return {}
    out: dict[str, float] = {}
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            rates = nvml.nvmlDeviceGetUtilizationRates(nvml.nvmlDeviceGetHandleByIndex(index))
            out[str(index)] = float(rates.gpu) / 100.0
    except Exception:  # a device that fell off the bus: report what was read
        return out
    return out
