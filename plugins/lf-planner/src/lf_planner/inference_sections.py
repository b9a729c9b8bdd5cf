"""The sections of a serving plan, each built from the chosen candidate replica."""

from __future__ import annotations

import math

from lf_planner import memory
from lf_planner.architecture import ModelArch
from lf_planner.common import Notes, rounded
from lf_planner.config import Constants, InferenceConfig
from lf_planner.hardware import Catalog
from lf_planner.inference_replica import Candidate, rank_key
from lf_planner.plans import (
    InferenceCost,
    InferenceGPUResources,
    InferenceOption,
    InferenceStorage,
    LoadPoint,
    MemoryBreakdown,
    Network,
    Scaling,
    Throughput,
)


def build_gpu_resources(cfg: InferenceConfig, c: Candidate) -> InferenceGPUResources:
    """Memory per replica, GPUs per replica, replicas."""
    mem_total = c.weights_gb + c.kv_gb + c.overhead_gb
    return InferenceGPUResources(
        gpu_memory_per_replica_gb=rounded(mem_total),
        memory_breakdown=MemoryBreakdown(
            weights_gb=rounded(c.weights_gb),
            kv_cache_gb=rounded(c.kv_gb),
            overhead_gb=rounded(c.overhead_gb),
            total_gb=rounded(mem_total),
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


def warn_missed_sla(notes: Notes, c: Candidate) -> None:
    """Warn, naming each missed target, when the latency SLA is not met."""
    if c.meets_sla is False:
        notes.warn(
            "The latency SLA is not met: "
            + "; ".join(f"{x.metric} {x.estimate_ms:g} ms > {x.target_ms:g} ms" for x in (c.sla or []) if not x.ok)
            + ". Try a faster GPU (--gpu-type H100-80GB), more GPUs per replica, FP8/INT8 weights, shorter prompts,"
            " or a lower --target-gpu-utilization."
        )


def build_throughput(cfg: InferenceConfig, c: Candidate) -> Throughput:
    """Tokens and requests per second, latency, and the SLA checks."""
    w = cfg.workload
    return Throughput(
        tps_per_replica=rounded(c.tps, 1),
        input_tps_per_replica=rounded(c.cap_rps * w.avg_input_tokens, 1),
        rps_per_replica=rounded(c.cap_rps, 3),
        total_tps_capacity=rounded(c.tps * c.max_replicas, 1),
        max_rps_capacity=rounded(c.cap_rps * c.max_replicas, 3),
        recommended_batch_size=c.batch,
        decode_bound="compute" if c.compute_bound else "memory-bandwidth",
        estimated_ttft_ms=rounded(c.ttft_p50 * 1000, 1),
        estimated_ttft_p99_ms=rounded(c.ttft_p99 * 1000, 1),
        estimated_itl_ms=rounded(c.itl * 1000, 2),
        estimated_e2e_latency_ms=rounded(c.e2e * 1000, 1),
        meets_latency_sla=c.meets_sla,
        sla_checks=c.sla or [],
    )


def build_storage(arch: ModelArch, cfg: InferenceConfig, c: Candidate) -> InferenceStorage:
    """The model store, a local copy per replica, and request logs."""
    w, const = cfg.workload, cfg.constants
    weights_file = memory.weights(arch, cfg.model.precision).total_gb
    model_store = weights_file * const.model_versions_kept
    cache = weights_file * c.max_replicas
    logs = w.requests_per_second * 86400 * const.log_bytes_per_request * const.log_retention_days / memory.GB
    return InferenceStorage(
        model_storage_gb=rounded(model_store),
        cache_storage_gb=rounded(cache),
        log_storage_gb=rounded(logs),
        total_storage_gb=rounded(model_store + cache + logs),
    )


def build_network(cfg: InferenceConfig, c: Candidate) -> Network:
    """Bandwidth, connections and load balancers at peak load."""
    w, const = cfg.workload, cfg.constants
    peak = w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100)
    bytes_in = w.avg_input_tokens * const.request_bytes_per_input_token + const.http_overhead_bytes
    bytes_out = w.avg_output_tokens * const.response_bytes_per_output_token + const.http_overhead_bytes
    ingress = peak * bytes_in * 8 / 1e6
    egress = peak * bytes_out * 8 / 1e6
    egress_month = w.requests_per_second * bytes_out * 3600 * const.hours_per_month / memory.GB
    connections = math.ceil(peak * c.e2e * const.connection_headroom)
    ha = cfg.service.environment == "prod" or cfg.service.criticality == "high"
    lbs = max(2 if ha else 1, math.ceil(connections / const.connections_per_load_balancer))
    return Network(
        bandwidth_mbps=rounded(ingress + egress),
        ingress_mbps=rounded(ingress),
        egress_mbps=rounded(egress),
        egress_gb_per_month=rounded(egress_month),
        connection_limit=max(connections, 1),
        recommended_load_balancers=lbs,
    )


def build_scaling(notes: Notes, cfg: InferenceConfig, c: Candidate) -> Scaling:
    """Replica counts against today's, and the autoscaling thresholds (with their note)."""
    m = cfg.model
    cap_plan = c.cap_rps * cfg.gpu.target_gpu_utilization
    current = cfg.gpu.current_replicas
    plan = Scaling(
        recommended_min_replicas=c.min_replicas,
        recommended_max_replicas=c.max_replicas,
        current_replicas=current,
        replica_change=(c.max_replicas - current) if current is not None else None,
        auto_scale_rps_threshold=rounded(cap_plan, 3),
        auto_scale_gpu_util_threshold=cfg.gpu.target_gpu_utilization,
        auto_scale_latency_threshold_ms=rounded(
            m.target_latency_p99_ms or m.target_latency_p50_ms or max(c.ttft_p99 * 1000 * 1.5, 1.0), 1
        ),
        scale_down_rps_threshold=rounded(cap_plan * 0.5, 3),
    )
    notes.add(
        ["scaling"],
        "Autoscaling: add a replica when a replica's request rate passes the rps threshold (its planned share), "
        "its GPU utilization passes the target, or p99 TTFT passes the latency threshold; remove one below half "
        "the rps threshold.",
    )
    return plan


def build_cost(
    cfg: InferenceConfig, c: Candidate, storage: InferenceStorage, network: Network, notes: Notes, catalog: Catalog
) -> InferenceCost | None:
    """Monthly GPU, storage, egress and load-balancer cost; None without a price for the GPU."""
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
        monthly_gpu_cost=rounded(gpu_month),
        monthly_gpu_cost_at_max_replicas=rounded(at_max),
        cost_per_million_tokens=rounded(replica_hour / tokens_hour * 1e6, 4),
        cost_per_million_output_tokens=rounded(replica_hour / out_hour * 1e6, 4),
        monthly_storage_cost=rounded(storage_cost),
        monthly_network_cost=rounded(network_cost),
        monthly_load_balancer_cost=rounded(lb_cost),
        monthly_total_cost=rounded(gpu_month + storage_cost + network_cost + lb_cost),
    )


def build_gpu_comparison(options: dict[str, Candidate], const: Constants) -> list[InferenceOption]:
    """Every GPU type's best option, best first."""
    hours, share = const.hours_per_month, const.peak_hours_fraction
    return [
        InferenceOption(
            gpu_type=o.gpu.name,
            fits=o.fits,
            reason=o.reason,
            gpus_per_replica=o.tp if o.fits else 0,
            max_replicas=o.max_replicas,
            total_gpus=o.total_gpus if o.fits else 0,
            tps_per_replica=rounded(o.tps, 1),
            estimated_ttft_ms=rounded(o.ttft_p50 * 1000, 1),
            estimated_itl_ms=rounded(o.itl * 1000, 2),
            meets_latency_sla=o.meets_sla if o.fits else None,
            provider=o.price.provider if o.price else None,
            usd_per_gpu_hour=o.price.usd_per_gpu_hour if o.price else None,
            monthly_gpu_cost=rounded(cost_o, 0)
            if (cost_o := o.monthly_gpu_cost(hours, share)) is not None and o.fits
            else None,
        )
        for o in sorted(options.values(), key=lambda o: rank_key(o, hours, share))
    ]


def build_load_curve(cfg: InferenceConfig, c: Candidate) -> list[LoadPoint]:
    """Replicas needed from a quarter of today's load up to the grown peak."""
    w = cfg.workload
    cap_plan = c.cap_rps * cfg.gpu.target_gpu_utilization
    top = max(2.0, w.peak_load_multiplier * (1 + w.growth_rate / 100))
    steps = sorted({0.25, 0.5, 0.75, 1.0, *(round(1 + i * (top - 1) / 8, 2) for i in range(1, 9))})
    return [
        LoadPoint(
            load_multiplier=s,
            requests_per_second=rounded(w.requests_per_second * s, 3),
            replicas=max(1, math.ceil(w.requests_per_second * s / cap_plan - 1e-9)),
        )
        for s in steps
    ]
