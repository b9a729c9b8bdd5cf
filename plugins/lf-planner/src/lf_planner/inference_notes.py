"""The assumptions behind a serving plan's numbers, stated as numbered notes (A1, A2, ...)."""

from __future__ import annotations

from lf_planner import memory, perf
from lf_planner.architecture import ModelArch
from lf_planner.common import Notes, weights_text
from lf_planner.config import InferenceConfig
from lf_planner.inference_replica import Candidate


def explain_inference(notes: Notes, arch: ModelArch, cfg: InferenceConfig, chosen: Candidate) -> None:
    """State every assumption behind the chosen option's numbers, in the plan's reading order."""
    _explain_memory(notes, arch, cfg, chosen)
    _explain_prefill_and_decode(notes, arch, cfg, chosen)
    _explain_batching_and_latency(notes, cfg, chosen)
    _explain_replicas_network_storage(notes, cfg)
    m = cfg.model
    if chosen.dtype in perf.EIGHT_BIT:
        notes.add(
            ["throughput"],
            f"{m.precision} runs as W8A8 on 8-bit tensor cores ({chosen.dtype.upper()}); "
            "INT4 would be weight-only with 16-bit math.",
        )
    _, fallback = perf.compute_dtype(chosen.gpu, m.precision)
    if fallback:
        notes.warn(fallback)


def _explain_memory(notes: Notes, arch: ModelArch, cfg: InferenceConfig, c: Candidate) -> None:
    """The architecture, the weights, the KV cache and the usable GPU memory."""
    eff, m, w = cfg.efficiency, cfg.model, cfg.workload
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
        f"Usable memory = {eff.gpu_memory_utilization:.0%} of {c.gpu.memory_gb:g} GB per GPU; "
        f"{eff.serving_overhead_gb:g} GB per GPU for activations, CUDA graphs and sampling; the rest holds the KV "
        f"cache. GPUs per replica = the fewest ({c.tp}) whose memory holds weights + one context and whose "
        "heads split evenly, widened only when that meets the latency SLA with fewer GPUs in total.",
    )


def _explain_prefill_and_decode(notes: Notes, arch: ModelArch, cfg: InferenceConfig, c: Candidate) -> None:
    """The roofline of a prefill (compute-bound) and of a decode step (bandwidth-bound up to the ridge)."""
    eff, gpu = cfg.efficiency, c.gpu
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


def _explain_batching_and_latency(notes: Notes, cfg: InferenceConfig, c: Candidate) -> None:
    """Continuous batching, the latency model behind the SLA checks, and tensor parallelism."""
    eff, m, gpu = cfg.efficiency, cfg.model, c.gpu
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


def _explain_replicas_network_storage(notes: Notes, cfg: InferenceConfig) -> None:
    """How replicas, the network and storage are sized."""
    w, const = cfg.workload, cfg.constants
    ha = cfg.service.environment == "prod" or cfg.service.criticality == "high"
    notes.add(
        ["gpu_resources.min_replicas", "gpu_resources.max_replicas", "scaling"],
        f"Replicas run at {cfg.gpu.target_gpu_utilization:.0%} of capacity: min = average load "
        f"({w.requests_per_second:g} rps), max = average x peak multiplier {w.peak_load_multiplier:g} x growth "
        f"(1 + {w.growth_rate:g}%)"
        + ("; at least 2 replicas for high availability (prod / high criticality)" if ha else "")
        + ".",
    )
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
