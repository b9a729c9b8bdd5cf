"""Sizing one serving replica: a GPU type at a tensor-parallel degree, its batch, latency and replicas.

For each candidate the planner fits the weights, sizes the KV cache, picks the largest batch that
meets the inter-token-latency target, derives a replica's capacity with continuous batching (decode
steps plus the amortized prefill of new requests), then sizes replicas for the average, peak and
grown load at the target utilization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lf_planner import memory, perf
from lf_planner.architecture import ModelArch
from lf_planner.common import price_for, rounded
from lf_planner.config import InferenceConfig, ModelConfig
from lf_planner.hardware import GPU, Catalog, Price
from lf_planner.plans import SLACheck

TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)
#: A model copy spanning servers (tensor x pipeline parallel) is planned only for NVLink-class GPUs.
MULTI_NODE_MIN_GBPS = 400.0


@dataclass
class Candidate:
    """One GPU type at one tensor-parallel degree, fully sized."""

    gpu: GPU
    tp: int
    fits: bool
    reason: str
    dtype: str = ""
    weights_gb: float = 0.0
    kv_gb: float = 0.0
    overhead_gb: float = 0.0
    usable_gb: float = 0.0
    batch: int = 0
    kv_tokens: int = 0
    tps: float = 0.0
    cap_rps: float = 0.0
    ttft_p50: float = 0.0
    ttft_p99: float = 0.0
    itl: float = 0.0
    e2e: float = 0.0
    compute_bound: bool = False
    min_replicas: int = 0
    max_replicas: int = 0
    sla: list[SLACheck] | None = None
    price: Price | None = None

    @property
    def total_gpus(self) -> int:
        """GPUs across all replicas at peak."""
        return self.max_replicas * self.tp

    @property
    def meets_sla(self) -> bool | None:
        """All latency targets met (None when there are none)."""
        return None if not self.sla else all(c.ok for c in self.sla)

    def monthly_gpu_cost(self, hours: float, peak_share: float) -> float | None:
        """Autoscaled monthly GPU cost: min replicas always, max replicas for the peak share."""
        if self.price is None:
            return None
        replicas = self.min_replicas * (1 - peak_share) + self.max_replicas * peak_share
        return self.price.usd_per_gpu_hour * self.tp * replicas * hours


class ReplicaModel:
    """The per-request quantities of one candidate replica (closures over the roofline formulas)."""

    def __init__(self, arch: ModelArch, cfg: InferenceConfig, gpu: GPU, tp: int, dtype: str) -> None:
        self.arch, self.cfg, self.eff = arch, cfg, cfg.efficiency
        self.device = perf.Device(gpu, tp)
        self.dtype = dtype
        m = cfg.model
        self.weights_bytes = memory.weights(arch, m.precision).total_gb * memory.GB
        self.kv_tok = memory.kv_cache_bytes_per_token(arch, m.precision, m.kv_cache_precision)
        self.isl, self.osl = cfg.workload.avg_input_tokens, cfg.workload.avg_output_tokens
        pre_flops = 2.0 * arch.matmul_params() * self.isl + perf.attention_flops(arch, self.isl, self.isl / 2)
        #: Prefill seconds per request when batched with others (compute only, no weight-read floor).
        self.prefill_batched = pre_flops / (
            self.device.peak_flops(dtype) * perf.serving_mfu(self.eff, dtype, phase="prefill")
        )
        #: Time to first token on an idle replica.
        self.ttft_idle = perf.ttft(
            arch, self.device, self.eff, tokens=self.isl, weights_bytes=self.weights_bytes, dtype=dtype
        )

    def step(self, batch: float) -> tuple[float, bool]:
        """Seconds of one decode step at ``batch`` running sequences, and whether it is compute-bound."""
        return perf.decode_step_time(
            self.arch,
            self.device,
            self.eff,
            batch=max(batch, 1.0),
            context=self.isl + self.osl / 2,
            weights_bytes=self.weights_bytes,
            kv_bytes_per_token=self.kv_tok,
            dtype=self.dtype,
        )

    def itl(self, batch: float) -> float:
        """Seconds between tokens at ``batch`` running sequences, new requests' prefill amortized."""
        return self.step(batch)[0] + max(batch, 1.0) * self.prefill_batched / self.osl

    def tokens_per_second(self, batch: float) -> float:
        """Output tokens per second of the replica at ``batch``."""
        return max(batch, 1.0) / self.itl(batch)


@dataclass
class _Latency:
    """Latency of a replica at its planned operating point, in seconds."""

    ttft_p50: float
    ttft_p99: float
    itl: float
    e2e: float
    compute_bound: bool


def _best_batch(model: ReplicaModel, limit: int, itl_target_s: float | None) -> int:
    """Largest batch <= limit whose ITL meets the target (ITL grows with the batch)."""
    if itl_target_s is None or model.itl(limit) <= itl_target_s:
        return limit
    lo, hi = 1, limit
    if model.itl(1) > itl_target_s:
        return 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if model.itl(mid) <= itl_target_s:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _queue_wait(rate: float, service: float, percentile: float) -> float:
    """Waiting time before a prefill starts: M/D/1 mean for the median, M/M/1 tail for the 99th."""
    rho = min(rate * service, 0.95)
    if rho <= 0:
        return 0.0
    if percentile <= 50:
        return rho * service / (2 * (1 - rho))
    tail = math.log(rho / (1 - percentile / 100)) if rho > 1 - percentile / 100 else 0.0
    return max(0.0, service / (1 - rho) * tail)


def _placement_problem(arch: ModelArch, cfg: InferenceConfig, gpu: GPU, tp: int) -> str | None:
    """Why a model copy cannot be split over ``tp`` GPUs of type ``gpu`` (None when it can)."""
    if tp <= 8 and arch.n_heads % tp:
        return f"{arch.n_heads} attention heads do not split over {tp} GPUs"
    if tp > cfg.gpu.gpus_per_node and gpu.interconnect.bandwidth_gbps < MULTI_NODE_MIN_GBPS:
        return (
            f"a model copy over {tp} GPUs spans several servers, which needs NVLink-class GPUs "
            f"({gpu.name} has {gpu.interconnect.name})"
        )
    return None


def _replica_counts(cfg: InferenceConfig, cap_plan: float) -> tuple[int, int]:
    """Min replicas (average load, high availability) and max replicas (peak x growth)."""
    w = cfg.workload
    ha = cfg.service.environment == "prod" or cfg.service.criticality == "high"
    min_r = max(2 if ha else 1, math.ceil(w.requests_per_second / cap_plan - 1e-9))
    peak = w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100)
    max_r = max(min_r, math.ceil(peak / cap_plan - 1e-9))
    return min_r, max_r


def _latency_at_plan(model: ReplicaModel, cfg: InferenceConfig, batch: int, rate: float) -> _Latency:
    """Latency with each replica serving ``rate`` requests/s (its planned share of capacity)."""
    eff, w = cfg.efficiency, cfg.workload
    b_op = max(1.0, batch * cfg.gpu.target_gpu_utilization)
    for _ in range(30):  # Little's law fixed point: running sequences = rate x decode time
        b_op = min(float(batch), max(1.0, rate * w.avg_output_tokens * model.itl(b_op)))
    itl = model.itl(b_op)
    step, compute_bound = model.step(b_op)
    prefill = model.ttft_idle - eff.request_overhead_ms / 1000
    ttft_p50 = model.ttft_idle + step / 2 + _queue_wait(rate, prefill, 50)
    ttft_p99 = model.ttft_idle + step + _queue_wait(rate, prefill, 99)
    e2e = ttft_p50 + (w.avg_output_tokens - 1) * itl
    return _Latency(ttft_p50=ttft_p50, ttft_p99=ttft_p99, itl=itl, e2e=e2e, compute_bound=compute_bound)


def _sla_checks(m: ModelConfig, latency: _Latency) -> list[SLACheck]:
    """One check per latency target the model config sets."""
    checks = []
    if m.target_latency_p50_ms:
        checks.append(
            SLACheck(
                metric="ttft_p50",
                target_ms=m.target_latency_p50_ms,
                estimate_ms=rounded(latency.ttft_p50 * 1000, 1),
                ok=latency.ttft_p50 * 1000 <= m.target_latency_p50_ms,
            )
        )
    if m.target_latency_p99_ms:
        checks.append(
            SLACheck(
                metric="ttft_p99",
                target_ms=m.target_latency_p99_ms,
                estimate_ms=rounded(latency.ttft_p99 * 1000, 1),
                ok=latency.ttft_p99 * 1000 <= m.target_latency_p99_ms,
            )
        )
    if m.target_itl_ms:
        checks.append(
            SLACheck(
                metric="itl",
                target_ms=m.target_itl_ms,
                estimate_ms=rounded(latency.itl * 1000, 2),
                ok=latency.itl * 1000 <= m.target_itl_ms,
            )
        )
    return checks


def evaluate(arch: ModelArch, cfg: InferenceConfig, gpu: GPU, tp: int, catalog: Catalog) -> Candidate:
    """Size one replica of ``tp`` GPUs of type ``gpu`` and the replicas the workload needs."""
    eff, m, w = cfg.efficiency, cfg.model, cfg.workload
    problem = _placement_problem(arch, cfg, gpu, tp)
    if problem:
        return Candidate(gpu, tp, False, problem)
    dtype, _ = perf.compute_dtype(gpu, m.precision)
    mem_gb = cfg.gpu.gpu_memory_gb if (cfg.gpu.gpu_memory_gb and cfg.gpu.gpu_type) else gpu.memory_gb
    usable = mem_gb * tp * eff.gpu_memory_utilization
    model = ReplicaModel(arch, cfg, gpu, tp, dtype)
    weights_gb = model.weights_bytes / memory.GB
    overhead = eff.serving_overhead_gb * tp
    kv_budget = usable - weights_gb - overhead
    one_context = model.kv_tok * m.context_window / memory.GB
    if kv_budget < one_context:
        need = weights_gb + overhead + one_context
        return Candidate(
            gpu,
            tp,
            False,
            f"needs {need:.1f} GB for weights + one {m.context_window}-token context, "
            f"{tp} x {gpu.name} give {usable:.1f} GB usable",
        )
    kv_tokens = int(kv_budget * memory.GB / model.kv_tok)
    per_seq = w.avg_input_tokens + w.avg_output_tokens
    limit = max(1, min(kv_tokens // per_seq, m.batch_size or eff.max_batch_size))
    itl_target = m.target_itl_ms / 1000 if (m.target_itl_ms and not m.batch_size) else None
    batch = _best_batch(model, limit, itl_target)
    tps = model.tokens_per_second(batch)
    cap_rps = tps / w.avg_output_tokens
    cap_plan = cap_rps * cfg.gpu.target_gpu_utilization
    min_r, max_r = _replica_counts(cfg, cap_plan)
    latency = _latency_at_plan(model, cfg, batch, cap_plan)
    return Candidate(
        gpu=gpu,
        tp=tp,
        fits=True,
        reason="",
        dtype=dtype,
        weights_gb=weights_gb,
        kv_gb=batch * per_seq * model.kv_tok / memory.GB,
        overhead_gb=overhead,
        usable_gb=usable,
        batch=batch,
        kv_tokens=kv_tokens,
        tps=tps,
        cap_rps=cap_rps,
        ttft_p50=latency.ttft_p50,
        ttft_p99=latency.ttft_p99,
        itl=latency.itl,
        e2e=latency.e2e,
        compute_bound=latency.compute_bound,
        min_replicas=min_r,
        max_replicas=max_r,
        sla=_sla_checks(m, latency),
        price=price_for(catalog, gpu.name, cfg.service.cloud_provider),
    )


def best_for_gpu(arch: ModelArch, cfg: InferenceConfig, gpu: GPU, catalog: Catalog) -> Candidate:
    """The best tensor-parallel degree for one GPU type: meets the SLA, then fewest GPUs."""
    candidates = [evaluate(arch, cfg, gpu, tp, catalog) for tp in TP_CHOICES]
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        memory_bound = [c for c in candidates if c.reason.startswith("needs")]
        return memory_bound[-1] if memory_bound else candidates[0]
    first = fitting[0].tp
    fitting = [c for c in fitting if c.tp <= max(first * 8, 8)]  # beyond that, more replicas beat wider TP
    return min(fitting, key=lambda c: (c.meets_sla is False, c.total_gpus, c.tp))


def rank_key(c: Candidate, hours: float, share: float) -> tuple[int, int, int, float, int, str]:
    """Sort key of the options: fits, meets the SLA, has a price, cheapest, fewest GPUs, then by name."""
    cost = c.monthly_gpu_cost(hours, share)
    return (not c.fits, c.meets_sla is False, cost is None, cost or 0.0, c.total_gpus, c.gpu.name)
