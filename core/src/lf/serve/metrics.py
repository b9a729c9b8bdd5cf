"""Prometheus metrics, named as in the requirements (SRS Appendix D), one registry per app.

* ``inference_requests_total{model,status}`` - requests by HTTP status
* ``inference_latency_seconds{model}`` - whole-request latency (histogram)
* ``inference_time_to_first_token_seconds{model}`` - time to the first token (histogram)
* ``inference_time_per_output_token_seconds{model}`` - inter-token latency (histogram)
* ``tokens_generated_total{model}`` and ``prompt_tokens_total{model}``
* ``active_requests{model}`` - in the backend now; ``queued_requests`` - waiting for a slot
* ``gpu_memory_used_bytes{device}`` - accelerator memory, where there is one
* ``gpu_utilization_ratio{device}`` - how busy each GPU was (0..1, NVML: :mod:`lf.serve.gpu`)

What the autoscalers use (``deploy/k8s``: the Prometheus adapter's rules turn them into
custom metrics): requests/s per pod is Prometheus's ``rate(inference_requests_total)``,
requests in flight ``active_requests``, queue depth ``queued_requests``, and
``gpu_utilization_ratio``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

disable_created_metrics()  # the *_created series only add noise to every scrape

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)
ITL_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics:
    """The server's metrics; ``render()`` gives the Prometheus text exposition."""

    def __init__(
        self,
        gpu_memory: Callable[[], dict[str, int]] | None = None,
        gpu_utilization: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("inference_requests", "Total inference requests", ["model", "status"], registry=r)
        self.latency = Histogram(
            "inference_latency_seconds", "Request latency distribution", ["model"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.ttft = Histogram(
            "inference_time_to_first_token_seconds",
            "Time from request arrival to the first generated token",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "inference_time_per_output_token_seconds",
            "Time between generated tokens (streamed requests)",
            ["model"],
            buckets=ITL_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("tokens_generated", "Total tokens generated", ["model"], registry=r)
        self.prompt_tokens = Counter("prompt_tokens", "Total prompt tokens processed", ["model"], registry=r)
        self.active = Gauge("active_requests", "Currently processing requests", ["model"], registry=r)
        self.queued = Gauge("queued_requests", "Requests waiting for a slot in the backend", registry=r)
        self.gpu = Gauge("gpu_memory_used_bytes", "GPU memory utilization", ["device"], registry=r)
        self.gpu_busy = Gauge(
            "gpu_utilization_ratio",
            "Fraction of time each GPU was busy (NVML, last sample period)",
            ["device"],
            registry=r,
        )
        self._gpu_memory = gpu_memory
        if gpu_utilization is None:
            from lf.serve.gpu import gpu_utilization
        self._gpu_utilization = gpu_utilization
        self._recent_ttft: deque[float] = deque(maxlen=50)

    def observe_ttft(self, model: str, seconds: float) -> None:
        """Record a time to first token (also kept for the health check's median)."""
        self.ttft.labels(model).observe(seconds)
        self._recent_ttft.append(seconds)

    def recent_ttft_median(self) -> float | None:
        """Median of the last 50 times to first token, or None before any."""
        if not self._recent_ttft:
            return None
        ordered = sorted(self._recent_ttft)
        return ordered[len(ordered) // 2]

    def render(self, queued: int) -> bytes:
        """The exposition text, with gauges refreshed."""
        self.queued.set(queued)
        for gauge, read in ((self.gpu, self._gpu_memory), (self.gpu_busy, self._gpu_utilization)):
            if read is None:
                continue
            try:
                for device, value in read().items():
                    gauge.labels(device).set(value)
            except Exception:  # metrics must never fail the scrape
                pass
        return generate_latest(self.registry)


class RequestTimer:
    """Times one generation: TTFT, inter-token gaps, total latency, tokens."""

    def __init__(self, metrics: ServerMetrics, model: str, started: float | None = None) -> None:
        self.metrics = metrics
        self.model = model
        self.started = started if started is not None else time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.tokens = 0

    def tokens_seen(self, total_tokens: int) -> None:
        """The backend has produced ``total_tokens`` so far."""
        new = total_tokens - self.tokens
        if new <= 0:
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = now
            self.metrics.observe_ttft(self.model, now - self.started)
        elif self.last is not None:
            gap = (now - self.last) / new
            for _ in range(min(new, 16)):
                self.metrics.itl.labels(self.model).observe(gap)
        self.last = now
        self.tokens = total_tokens

    def finish(self, status: int | str, completion_tokens: int | None = None, prompt_tokens: int = 0) -> None:
        """Count the request once, with its final status."""
        m = self.metrics
        tokens = self.tokens if completion_tokens is None else completion_tokens
        if tokens:
            m.tokens.labels(self.model).inc(tokens)
        if prompt_tokens:
            m.prompt_tokens.labels(self.model).inc(prompt_tokens)
        m.requests.labels(self.model, str(status)).inc()
        m.latency.labels(self.model).observe(time.perf_counter() - self.started)


def parse_labels(text: str) -> dict[str, Any]:
    """Samples of an exposition text as ``{"name{labels}": value}`` (tests, debugging)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out
