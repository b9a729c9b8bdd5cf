"""Time formulas: prefill, decode steps and training throughput on a GPU (roofline model).

* Prefill is compute-bound: ``2 * N * tokens`` FLOPs plus causal attention
  (``2 * layers * q_dim * tokens^2``) at ``prefill_mfu`` of the dense peak, but never faster than
  reading the weights once.
* A decode step reads every weight and every cached K/V once: it is bandwidth-bound at
  ``decode_mbu`` of the HBM bandwidth until the batch passes the ridge point, where its FLOPs
  (``2 * N * batch`` plus attention over the context) at ``decode_mfu`` take longer.
* Tensor parallelism divides both by the GPU count and adds two all-reduces per layer.
* Training runs ``6 * N`` FLOPs per token (forward 2, backward 4) plus causal attention, ``8/6``
  of that with full recomputation, at ``training_mfu`` of the dense peak.
"""

from __future__ import annotations

from dataclasses import dataclass

from lf_planner.architecture import ModelArch
from lf_planner.config import Efficiency
from lf_planner.hardware import GPU

#: Compute dtype per weight precision when serving (INT4 is weight-only: FP16 math on dequantized weights).
SERVE_COMPUTE = {"FP32": "fp32", "FP16": "fp16", "BF16": "bf16", "FP8": "fp8", "INT8": "int8", "INT4": "fp16"}
TRAIN_COMPUTE = {"FP32": "fp32", "FP16": "fp16", "BF16": "bf16", "FP8": "fp8"}
EIGHT_BIT = ("fp8", "int8")


@dataclass(frozen=True)
class Device:
    """A group of ``tp`` identical GPUs running one model copy with tensor parallelism."""

    gpu: GPU
    tp: int = 1

    def peak_flops(self, dtype: str) -> float:
        """Dense FLOP/s of the whole group for ``dtype``."""
        tflops = self.gpu.tflops(dtype)
        if tflops is None:
            raise ValueError(f"{self.gpu.name} has no {dtype} throughput")
        return tflops * 1e12 * self.tp

    @property
    def bandwidth(self) -> float:
        """Memory bandwidth of the whole group, bytes/s."""
        return self.gpu.memory_bandwidth_gbps * 1e9 * self.tp


def compute_dtype(gpu: GPU, precision: str, *, training: bool = False) -> tuple[str, str | None]:
    """The dtype the math runs in, and a note when the GPU cannot run the requested one natively."""
    dtype = (TRAIN_COMPUTE if training else SERVE_COMPUTE)[precision]
    if gpu.tflops(dtype) is None:
        fallback = "fp16" if gpu.tflops("fp16") else "bf16"
        return (
            fallback,
            f"{gpu.name} has no {dtype.upper()} tensor cores: "
            f"{precision} runs as weight-only with {fallback.upper()} math",
        )
    return dtype, None


def serving_mfu(eff: Efficiency, dtype: str, *, phase: str) -> float:
    """Utilization of the dense peak while serving (8-bit kernels reach less of their higher peak)."""
    base = eff.prefill_mfu if phase == "prefill" else eff.decode_mfu
    return base * eff.low_precision_efficiency if dtype in EIGHT_BIT else base


def attention_flops(arch: ModelArch, query_tokens: float, context: float) -> float:
    """QK^T and AV FLOPs for ``query_tokens`` attending to ``context`` keys each: 4 x q_dim per key, all layers."""
    return 4.0 * arch.n_layers * arch.q_dim * query_tokens * context


def _overhead(arch: ModelArch, device: Device, eff: Efficiency, tokens: float, act_bytes: float) -> float:
    """Per-forward fixed costs: per-layer launch overhead, and the tensor-parallel all-reduces."""
    t = arch.n_layers * eff.per_layer_overhead_us * 1e-6
    if device.tp > 1:
        size = tokens * arch.hidden * act_bytes
        ring = 2 * (device.tp - 1) / device.tp * size / (device.gpu.interconnect.bandwidth_gbps * 1e9 / 2)
        t += 2 * arch.n_layers * (eff.allreduce_latency_us * 1e-6 + ring)
    return t


def prefill_time(
    arch: ModelArch, device: Device, eff: Efficiency, *, tokens: float, weights_bytes: float, dtype: str
) -> float:
    """Seconds to process a prompt of ``tokens`` (one sequence, causal attention)."""
    flops = 2.0 * arch.matmul_params() * tokens + attention_flops(arch, tokens, tokens / 2)
    compute = flops / (device.peak_flops(dtype) * serving_mfu(eff, dtype, phase="prefill"))
    memory = weights_bytes / (device.bandwidth * eff.decode_mbu)
    return max(compute, memory) + _overhead(arch, device, eff, tokens, 2.0)


def ttft(arch: ModelArch, device: Device, eff: Efficiency, *, tokens: float, weights_bytes: float, dtype: str) -> float:
    """Time to first token of one request on an idle replica: its prefill plus the fixed request overhead."""
    return prefill_time(arch, device, eff, tokens=tokens, weights_bytes=weights_bytes, dtype=dtype) + (
        eff.request_overhead_ms / 1000
    )


def decode_step_time(
    arch: ModelArch,
    device: Device,
    eff: Efficiency,
    *,
    batch: float,
    context: float,
    weights_bytes: float,
    kv_bytes_per_token: float,
    dtype: str,
) -> tuple[float, bool]:
    """Seconds for one decode step of ``batch`` sequences with ``context`` cached tokens each.

    Returns the time and whether the step is compute-bound (past the ridge point).
    """
    memory_bytes = weights_bytes + batch * context * kv_bytes_per_token
    memory = memory_bytes / (device.bandwidth * eff.decode_mbu)
    flops = 2.0 * arch.matmul_params() * batch + attention_flops(arch, batch, context)
    compute = flops / (device.peak_flops(dtype) * serving_mfu(eff, dtype, phase="decode"))
    return max(memory, compute) + _overhead(arch, device, eff, batch, 2.0), compute > memory


def training_flops_per_token(arch: ModelArch, *, seq_len: int, frozen: bool, recompute: bool) -> float:
    """FLOPs executed per training token.

    6N (+ causal attention); LoRA skips the frozen weights' gradients (4N); 8/6 with full recomputation.
    """
    n = arch.matmul_params()
    attn_fwd = attention_flops(arch, 1, seq_len / 2)
    forward = 2.0 * n + attn_fwd
    backward = (2.0 * n if frozen else 4.0 * n) + 2.0 * attn_fwd
    return forward + backward + (forward if recompute else 0.0)


def training_tokens_per_second(
    arch: ModelArch,
    gpu: GPU,
    eff: Efficiency,
    *,
    dtype: str,
    seq_len: int,
    method: str,
    recompute: bool,
) -> float:
    """Tokens per second one GPU trains at (``training_mfu`` of its dense peak)."""
    flops = training_flops_per_token(arch, seq_len=seq_len, frozen=method != "full", recompute=recompute)
    rate = Device(gpu).peak_flops(dtype) * eff.training_mfu / flops
    return rate / eff.qlora_slowdown if method == "qlora" else rate
