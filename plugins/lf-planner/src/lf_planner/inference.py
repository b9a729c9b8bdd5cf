"""The serving plan: GPUs per replica, replicas, throughput, latency, storage, network, cost.

For each GPU type (and tensor-parallel degree) the planner fits the weights, sizes the KV cache,
picks the largest batch that meets the inter-token-latency target, derives a replica's
capacity with continuous batching (decode steps plus the amortized prefill of new requests),
then sizes replicas for the average, peak and grown load at the target utilization. The
cheapest option that meets the latency SLA is recommended; all options are kept for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lf.errors import ConfigError
from lf_planner import memory, perf
from lf_planner.architecture import ModelArch, resolve
from lf_planner.common import Notes, hardware_data, model_info, planner_version, price_for, r, weights_text
from lf_planner.config import InferenceConfig
from lf_planner.hardware import GPU, Catalog, Price
from lf_planner.plans import (
    InferenceCost,
    InferenceGPUResources,
    InferenceOption,
    InferenceStorage,
    LLMCapacityPlan,
    LoadPoint,
    MemoryBreakdown,
    Network,
    Scaling,
    SLACheck,
    Throughput,
)

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


class _Model:
    """The per-request quantities of one candidate (closures over the roofline formulas)."""

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


def _best_batch(model: _Model, limit: int, itl_target_s: float | None) -> int:
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


def evaluate(arch: ModelArch, cfg: InferenceConfig, gpu: GPU, tp: int, catalog: Catalog) -> Candidate:
    """Size one replica of ``tp`` GPUs of type ``gpu`` and the replicas the workload needs."""
    eff, m, w = cfg.efficiency, cfg.model, cfg.workload
    if tp <= 8 and arch.n_heads % tp:
        return Candidate(gpu, tp, False, f"{arch.n_heads} attention heads do not split over {tp} GPUs")
    if tp > cfg.gpu.gpus_per_node and gpu.interconnect.bandwidth_gbps < MULTI_NODE_MIN_GBPS:
        return Candidate(
            gpu,
            tp,
            False,
            f"a model copy over {tp} GPUs spans several servers, which needs NVLink-class GPUs "
            f"({gpu.name} has {gpu.interconnect.name})",
        )
    dtype, _ = perf.compute_dtype(gpu, m.precision)
    mem_gb = cfg.gpu.gpu_memory_gb if (cfg.gpu.gpu_memory_gb and cfg.gpu.gpu_type) else gpu.memory_gb
    usable = mem_gb * tp * eff.gpu_memory_utilization
    model = _Model(arch, cfg, gpu, tp, dtype)
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

    u = cfg.gpu.target_gpu_utilization
    cap_plan = cap_rps * u
    ha = cfg.service.environment == "prod" or cfg.service.criticality == "high"
    min_r = max(2 if ha else 1, math.ceil(w.requests_per_second / cap_plan - 1e-9))
    peak = w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100)
    max_r = max(min_r, math.ceil(peak / cap_plan - 1e-9))

    # Latency at the planned operating point: each replica at `u` of its capacity.
    rate = cap_plan
    b_op = max(1.0, batch * u)
    for _ in range(30):  # Little's law fixed point: running sequences = rate x decode time
        b_op = min(float(batch), max(1.0, rate * w.avg_output_tokens * model.itl(b_op)))
    itl = model.itl(b_op)
    step, compute_bound = model.step(b_op)
    prefill = model.ttft_idle - eff.request_overhead_ms / 1000
    ttft_p50 = model.ttft_idle + step / 2 + _queue_wait(rate, prefill, 50)
    ttft_p99 = model.ttft_idle + step + _queue_wait(rate, prefill, 99)
    e2e = ttft_p50 + (w.avg_output_tokens - 1) * itl
    checks = []
    if m.target_latency_p50_ms:
        checks.append(
            SLACheck(
                metric="ttft_p50",
                target_ms=m.target_latency_p50_ms,
                estimate_ms=r(ttft_p50 * 1000, 1),
                ok=ttft_p50 * 1000 <= m.target_latency_p50_ms,
            )
        )
    if m.target_latency_p99_ms:
        checks.append(
            SLACheck(
                metric="ttft_p99",
                target_ms=m.target_latency_p99_ms,
                estimate_ms=r(ttft_p99 * 1000, 1),
                ok=ttft_p99 * 1000 <= m.target_latency_p99_ms,
            )
        )
    if m.target_itl_ms:
        checks.append(
            SLACheck(
                metric="itl", target_ms=m.target_itl_ms, estimate_ms=r(itl * 1000, 2), ok=itl * 1000 <= m.target_itl_ms
            )
        )
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
        ttft_p50=ttft_p50,
        ttft_p99=ttft_p99,
        itl=itl,
        e2e=e2e,
        compute_bound=compute_bound,
        min_replicas=min_r,
        max_replicas=max_r,
        sla=checks,
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


def _rank(c: Candidate, hours: float, share: float) -> tuple[int, int, int, float, int, str]:
    cost = c.monthly_gpu_cost(hours, share)
    return (not c.fits, c.meets_sla is False, cost is None, cost or 0.0, c.total_gpus, c.gpu.name)


def generate_inference_plan(cfg: InferenceConfig, catalog: Catalog) -> LLMCapacityPlan:
    """Plan serving ``cfg``'s workload; see the module docstring."""
    from lf_planner.validate import validate_inference

    validate_inference(cfg, catalog)
    arch = resolve(cfg.model.model_size_billions, cfg.model.model_path)
    if arch.max_position and cfg.model.context_window > arch.max_position:
        raise ConfigError(
            f"context_window={cfg.model.context_window} is longer than the model's maximum "
            f"({arch.max_position} positions in its config).",
            hint=f"Use --context-window {arch.max_position} or less.",
        )
    notes = Notes()
    const = cfg.constants
    hours, share = const.hours_per_month, const.peak_hours_fraction
    options = {g.name: best_for_gpu(arch, cfg, g, catalog) for g in sorted(catalog.gpus.values(), key=lambda g: g.name)}
    if cfg.gpu.gpu_type:
        gpu = catalog.gpu(cfg.gpu.gpu_type)
        chosen = options[gpu.name] if not cfg.gpu.gpu_memory_gb else best_for_gpu(arch, cfg, gpu, catalog)
        options[gpu.name] = chosen
    else:
        chosen = min(options.values(), key=lambda c: _rank(c, hours, share))
    if not chosen.fits:
        raise ConfigError(
            f"The model does not fit on {chosen.gpu.name}: {chosen.reason}.",
            hint="Choose a GPU with more memory (or leave --gpu-type empty to get a recommendation), "
            "a lower precision (--precision INT8/INT4), or a shorter --context-window.",
        )
    _explain(notes, arch, cfg, chosen)
    plan = _assemble(arch, cfg, chosen, options, notes, catalog)
    return plan


def _explain(notes: Notes, arch: ModelArch, cfg: InferenceConfig, c: Candidate) -> None:
    """State every assumption behind the chosen option's numbers."""
    eff, m, w = cfg.efficiency, cfg.model, cfg.workload
    gpu = c.gpu
    notes.add(["model"], f"Architecture: {arch.source}.")
    notes.add(
        ["gpu_resources.memory_breakdown.weights_gb", "storage.model_storage_gb"], weights_text(arch, m.precision)
    )
    kv_dtype = memory.kv_dtype(m.precision, m.kv_cache_precision)
    notes.add(
        ["gpu_resources.memory_breakdown.kv_cache_gb", "gpu_resources.max_concurrent_sequences_per_replica"],
        f"KV cache = 2 x {arch.n_layers} layers x {arch.n_kv_heads} KV heads x {arch.head_dim} head_dim x "
        f"{memory.KV_BYTES[kv_dtype]:g} B ({kv_dtype}) = "
        f"{arch.kv_bytes_per_token(memory.KV_BYTES[kv_dtype]) / 1024:.1f} KiB "
        f"per token; each running sequence reserves its input + output tokens "
        f"({w.avg_input_tokens + w.avg_output_tokens}), and one full {m.context_window}-token context must fit.",
    )
    notes.add(
        ["gpu_resources.memory_breakdown.overhead_gb", "gpu_resources.min_gpus_per_replica"],
        f"Usable memory = {eff.gpu_memory_utilization:.0%} of {gpu.memory_gb:g} GB per GPU; "
        f"{eff.serving_overhead_gb:g} GB per GPU for activations, CUDA graphs and sampling; the rest holds the KV "
        f"cache. GPUs per replica = the fewest ({c.tp}) whose memory holds weights + one context and whose "
        "heads split evenly, widened only when that meets the latency SLA with fewer GPUs in total.",
    )
    peak = gpu.tflops(c.dtype) or 0.0
    mfu = perf.serving_mfu(eff, c.dtype, phase="prefill")
    notes.add(
        ["throughput.estimated_ttft_ms"],
        f"Prefill is compute-bound: 2 x {arch.matmul_params() / 1e9:.2f}B x input tokens + causal attention FLOPs "
        f"at {mfu:.0%} of the dense {c.dtype.upper()} peak ({peak:g} TFLOPS per GPU"
        + (
            f", {eff.prefill_mfu:.0%} x {eff.low_precision_efficiency:.0%} for 8-bit kernels"
            if c.dtype in perf.EIGHT_BIT
            else ""
        )
        + f"), never faster than one read of the weights; plus {eff.per_layer_overhead_us:g} us per layer and "
        f"{eff.request_overhead_ms:g} ms per request (scheduling, sampling, detokenizing).",
    )
    notes.add(
        ["throughput.tps_per_replica", "throughput.estimated_itl_ms", "throughput.decode_bound"],
        f"A decode step reads all weights and the running sequences' KV cache at {eff.decode_mbu:.0%} of "
        f"{gpu.memory_bandwidth_gbps:g} GB/s per GPU (bandwidth-bound) until its FLOPs at "
        f"{perf.serving_mfu(eff, c.dtype, phase='decode'):.0%} of the dense peak take longer (the ridge point); "
        f"this replica's step at its operating point is {'compute' if c.compute_bound else 'bandwidth'}-bound.",
    )
    notes.add(
        ["throughput.tps_per_replica", "throughput.estimated_itl_ms", "throughput.recommended_batch_size"],
        f"Continuous batching: up to {c.batch} sequences run at once ("
        + ("the batch_size you set" if m.batch_size else f"KV-cache capacity, capped at {eff.max_batch_size}")
        + (", reduced to meet the ITL target" if m.target_itl_ms and not m.batch_size else "")
        + "); the inter-token latency includes the prefill of new requests amortized over each request's output "
        "tokens (batch x prefill time / output tokens).",
    )
    notes.add(
        ["throughput.estimated_ttft_ms", "throughput.estimated_ttft_p99_ms", "throughput.meets_latency_sla"],
        f"Latency at the planned load ({cfg.gpu.target_gpu_utilization:.0%} of a replica's capacity): TTFT p50 = idle "
        "TTFT + half a decode step + the M/D/1 mean wait for earlier prompts; p99 = idle TTFT + a full step + the "
        "M/M/1 99th-percentile wait. The SLA targets are p50/p99 time-to-first-token and the ITL target.",
    )
    if c.tp > 1:
        notes.add(
            ["throughput.estimated_ttft_ms", "throughput.estimated_itl_ms"],
            f"Tensor parallelism over {c.tp} GPUs divides compute and memory traffic by {c.tp} and adds two "
            f"all-reduces per layer ({eff.allreduce_latency_us:g} us latency + ring transfer over "
            f"{gpu.interconnect.name}, {gpu.interconnect.bandwidth_gbps:g} GB/s)"
            + ("; more than 8 GPUs means several nodes (tensor x pipeline parallel)" if c.tp > 8 else "")
            + ".",
        )
    ha = cfg.service.environment == "prod" or cfg.service.criticality == "high"
    notes.add(
        ["gpu_resources.min_replicas", "gpu_resources.max_replicas", "scaling"],
        f"Replicas run at {cfg.gpu.target_gpu_utilization:.0%} of capacity: min = average load "
        f"({w.requests_per_second:g} rps), max = average x peak multiplier {w.peak_load_multiplier:g} x growth "
        f"(1 + {w.growth_rate:g}%)"
        + ("; at least 2 replicas for high availability (prod / high criticality)" if ha else "")
        + ".",
    )
    const = cfg.constants
    notes.add(
        ["network"],
        f"Network: {const.request_bytes_per_input_token:g} B per prompt token and "
        f"{const.response_bytes_per_output_token:g} B per streamed token (one SSE chunk) + "
        f"{const.http_overhead_bytes:g} B HTTP/TLS per request, at peak load; connections = peak rps x request "
        f"duration x {const.connection_headroom:g}; one load balancer per {const.connections_per_load_balancer} "
        "connections (two for high availability).",
    )
    notes.add(
        ["storage"],
        f"Storage: {const.model_versions_kept} model versions in the model store, a local copy per replica, and "
        f"{const.log_bytes_per_request:g} B of logs per request kept {const.log_retention_days} days (metadata only).",
    )
    if c.dtype in perf.EIGHT_BIT:
        notes.add(
            ["throughput"],
            f"{m.precision} runs as W8A8 on 8-bit tensor cores ({c.dtype.upper()}); "
            "INT4 would be weight-only with 16-bit math.",
        )
    _, fallback = perf.compute_dtype(gpu, m.precision)
    if fallback:
        notes.warn(fallback)


def _assemble(
    arch: ModelArch,
    cfg: InferenceConfig,
    c: Candidate,
    options: dict[str, Candidate],
    notes: Notes,
    catalog: Catalog,
) -> LLMCapacityPlan:
    w, m, const = cfg.workload, cfg.model, cfg.constants
    mem_total = c.weights_gb + c.kv_gb + c.overhead_gb
    resources = InferenceGPUResources(
        gpu_memory_per_replica_gb=r(mem_total),
        memory_breakdown=MemoryBreakdown(
            weights_gb=r(c.weights_gb), kv_cache_gb=r(c.kv_gb), overhead_gb=r(c.overhead_gb), total_gb=r(mem_total)
        ),
        min_gpus_per_replica=c.tp,
        tensor_parallel_size=c.tp,
        recommended_gpu_type=c.gpu.name,
        gpu_memory_gb=cfg.gpu.gpu_memory_gb or c.gpu.memory_gb,
        min_replicas=c.min_replicas,
        max_replicas=c.max_replicas,
        total_gpus=c.total_gpus,
        max_concurrent_sequences_per_replica=c.batch,
        kv_cache_tokens_per_replica=c.kv_tokens,
    )
    meets = c.meets_sla
    if meets is False:
        notes.warn(
            "The latency SLA is not met: "
            + "; ".join(f"{x.metric} {x.estimate_ms:g} ms > {x.target_ms:g} ms" for x in (c.sla or []) if not x.ok)
            + ". Try a faster GPU (--gpu-type H100-80GB), more GPUs per replica, FP8/INT8 weights, shorter prompts,"
            " or a lower --target-gpu-utilization."
        )
    throughput = Throughput(
        tps_per_replica=r(c.tps, 1),
        input_tps_per_replica=r(c.cap_rps * w.avg_input_tokens, 1),
        rps_per_replica=r(c.cap_rps, 3),
        total_tps_capacity=r(c.tps * c.max_replicas, 1),
        max_rps_capacity=r(c.cap_rps * c.max_replicas, 3),
        recommended_batch_size=c.batch,
        decode_bound="compute" if c.compute_bound else "memory-bandwidth",
        estimated_ttft_ms=r(c.ttft_p50 * 1000, 1),
        estimated_ttft_p99_ms=r(c.ttft_p99 * 1000, 1),
        estimated_itl_ms=r(c.itl * 1000, 2),
        estimated_e2e_latency_ms=r(c.e2e * 1000, 1),
        meets_latency_sla=meets,
        sla_checks=c.sla or [],
    )
    # Storage.
    weights_file = memory.weights(arch, m.precision).total_gb
    model_store = weights_file * const.model_versions_kept
    cache = weights_file * c.max_replicas
    logs = w.requests_per_second * 86400 * const.log_bytes_per_request * const.log_retention_days / memory.GB
    storage = InferenceStorage(
        model_storage_gb=r(model_store),
        cache_storage_gb=r(cache),
        log_storage_gb=r(logs),
        total_storage_gb=r(model_store + cache + logs),
    )
    # Network at peak.
    peak = w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100)
    bytes_in = w.avg_input_tokens * const.request_bytes_per_input_token + const.http_overhead_bytes
    bytes_out = w.avg_output_tokens * const.response_bytes_per_output_token + const.http_overhead_bytes
    ingress = peak * bytes_in * 8 / 1e6
    egress = peak * bytes_out * 8 / 1e6
    egress_month = w.requests_per_second * bytes_out * 3600 * const.hours_per_month / memory.GB
    connections = math.ceil(peak * c.e2e * const.connection_headroom)
    ha = cfg.service.environment == "prod" or cfg.service.criticality == "high"
    lbs = max(2 if ha else 1, math.ceil(connections / const.connections_per_load_balancer))
    network = Network(
        bandwidth_mbps=r(ingress + egress),
        ingress_mbps=r(ingress),
        egress_mbps=r(egress),
        egress_gb_per_month=r(egress_month),
        connection_limit=max(connections, 1),
        recommended_load_balancers=lbs,
    )
    cap_plan = c.cap_rps * cfg.gpu.target_gpu_utilization
    current = cfg.gpu.current_replicas
    scaling = Scaling(
        recommended_min_replicas=c.min_replicas,
        recommended_max_replicas=c.max_replicas,
        current_replicas=current,
        replica_change=(c.max_replicas - current) if current is not None else None,
        auto_scale_rps_threshold=r(cap_plan, 3),
        auto_scale_gpu_util_threshold=cfg.gpu.target_gpu_utilization,
        auto_scale_latency_threshold_ms=r(
            m.target_latency_p99_ms or m.target_latency_p50_ms or max(c.ttft_p99 * 1000 * 1.5, 1.0), 1
        ),
        scale_down_rps_threshold=r(cap_plan * 0.5, 3),
    )
    notes.add(
        ["scaling"],
        "Autoscaling: add a replica when a replica's request rate passes the rps threshold (its planned share), "
        "its GPU utilization passes the target, or p99 TTFT passes the latency threshold; remove one below half "
        "the rps threshold.",
    )
    cost = _cost(cfg, c, storage, network, notes, catalog) if cfg.options.include_cost else None
    if cfg.options.include_cost and cost is None:
        where = f"at '{cfg.service.cloud_provider}'" if cfg.service.cloud_provider else "at any provider"
        notes.warn(
            f"No price for {c.gpu.name} {where} in the hardware file: cost omitted. "
            "Add one with --hardware FILE (see `lf plan gpus`)."
        )
    if current is not None and current < c.max_replicas:
        notes.warn(f"{current} replicas run today; the plan needs up to {c.max_replicas} at peak.")
    comparison = [
        InferenceOption(
            gpu_type=o.gpu.name,
            fits=o.fits,
            reason=o.reason,
            gpus_per_replica=o.tp if o.fits else 0,
            max_replicas=o.max_replicas,
            total_gpus=o.total_gpus if o.fits else 0,
            tps_per_replica=r(o.tps, 1),
            estimated_ttft_ms=r(o.ttft_p50 * 1000, 1),
            estimated_itl_ms=r(o.itl * 1000, 2),
            meets_latency_sla=o.meets_sla if o.fits else None,
            provider=o.price.provider if o.price else None,
            usd_per_gpu_hour=o.price.usd_per_gpu_hour if o.price else None,
            monthly_gpu_cost=r(cost_o, 0)
            if (cost_o := o.monthly_gpu_cost(const.hours_per_month, const.peak_hours_fraction)) is not None and o.fits
            else None,
        )
        for o in sorted(options.values(), key=lambda o: _rank(o, const.hours_per_month, const.peak_hours_fraction))
    ]
    top = max(2.0, w.peak_load_multiplier * (1 + w.growth_rate / 100))
    steps = sorted({0.25, 0.5, 0.75, 1.0, *(round(1 + i * (top - 1) / 8, 2) for i in range(1, 9))})
    curve = [
        LoadPoint(
            load_multiplier=s,
            requests_per_second=r(w.requests_per_second * s, 3),
            replicas=max(1, math.ceil(w.requests_per_second * s / cap_plan - 1e-9)),
        )
        for s in steps
    ]
    return LLMCapacityPlan(
        planner_version=planner_version(),
        workload_input=w,
        model_config=m,
        gpu_config=cfg.gpu,
        service=cfg.service,
        model=model_info(arch, m.precision, m.kv_cache_precision),
        gpu_resources=resources,
        throughput=throughput,
        storage=storage,
        network=network,
        scaling=scaling,
        cost=cost,
        gpu_comparison=comparison,
        load_curve=curve,
        efficiency=cfg.efficiency,
        constants=const,
        assumptions=notes.assumptions,
        warnings=notes.warnings,
        hardware_data=hardware_data(catalog),
    )


def _cost(
    cfg: InferenceConfig, c: Candidate, storage: InferenceStorage, network: Network, notes: Notes, catalog: Catalog
) -> InferenceCost | None:
    if c.price is None:
        return None
    const = cfg.constants
    infra = catalog.infrastructure
    hours = const.hours_per_month
    gpu_month = c.monthly_gpu_cost(hours, const.peak_hours_fraction) or 0.0
    at_max = c.price.usd_per_gpu_hour * c.tp * c.max_replicas * hours
    replica_hour = c.price.usd_per_gpu_hour * c.tp
    u = cfg.gpu.target_gpu_utilization
    w = cfg.workload
    tokens_hour = c.cap_rps * u * (w.avg_input_tokens + w.avg_output_tokens) * 3600
    out_hour = c.cap_rps * u * w.avg_output_tokens * 3600
    storage_cost = storage.total_storage_gb * infra.storage_usd_per_gb_month
    network_cost = network.egress_gb_per_month * infra.egress_usd_per_gb
    lb_cost = network.recommended_load_balancers * infra.load_balancer_usd_per_hour * hours
    notes.add(
        ["cost"],
        f"GPU price {c.price.usd_per_gpu_hour:g} USD/GPU-hour on demand at {c.price.provider} ({c.price.product}), "
        f"read {c.price.read_on} from {c.price.source}. Monthly GPU cost = min replicas all month + max replicas for "
        f"{const.peak_hours_fraction:.0%} of it ({hours:g} h); per-token costs at {u:.0%} utilization. Storage, "
        f"egress and load balancers at {infra.storage_usd_per_gb_month:g} USD/GB-month, {infra.egress_usd_per_gb:g} "
        f"USD/GB and {infra.load_balancer_usd_per_hour:g} USD/h ({infra.source}).",
    )
    return InferenceCost(
        provider=c.price.provider,
        gpu_type=c.gpu.name,
        usd_per_gpu_hour=c.price.usd_per_gpu_hour,
        price_read_on=c.price.read_on,
        price_source=c.price.source,
        monthly_gpu_cost=r(gpu_month),
        monthly_gpu_cost_at_max_replicas=r(at_max),
        cost_per_million_tokens=r(replica_hour / tokens_hour * 1e6, 4),
        cost_per_million_output_tokens=r(replica_hour / out_hour * 1e6, 4),
        monthly_storage_cost=r(storage_cost),
        monthly_network_cost=r(network_cost),
        monthly_load_balancer_cost=r(lb_cost),
        monthly_total_cost=r(gpu_month + storage_cost + network_cost + lb_cost),
    )
