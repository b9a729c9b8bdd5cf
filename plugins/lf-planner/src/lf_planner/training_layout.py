"""Sizing a fine-tuning run on one GPU type: GPU count, ZeRO/FSDP stage, throughput and duration.

For each GPU type the planner finds the fewest GPUs (and the least ZeRO/FSDP sharding) whose
memory holds the model states and one micro-batch's activations, widens data parallelism when a
duration target asks for it, and derives tokens/s from ``training_mfu`` of the dense peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lf.errors import ConfigError
from lf_planner import memory, perf
from lf_planner.architecture import ModelArch
from lf_planner.common import price_for
from lf_planner.config import TrainingConfig
from lf_planner.hardware import GPU, Catalog, Price

MAX_GPUS = 16384


@dataclass
class Layout:
    """One GPU type with a GPU count and sharding stage, sized."""

    gpu: GPU
    gpus: int
    zero: int
    fits: bool
    reason: str
    mem: memory.TrainingMemory
    dp: int = 1
    grad_accum: int = 1
    tokens_per_s_gpu: float = 0.0
    total_tps: float = 0.0
    hours: float = 0.0
    price: Price | None = None
    nodes: int = 1

    def cost(self) -> float | None:
        """Total GPU cost of the run."""
        return None if self.price is None else self.price.usd_per_gpu_hour * self.gpus * self.hours


def memory_per_gpu(arch: ModelArch, cfg: TrainingConfig, gpus: int, zero: int) -> memory.TrainingMemory:
    """Memory per GPU of ``cfg``'s run over ``gpus`` data-parallel GPUs at ZeRO stage ``zero``."""
    t = cfg.training
    return memory.training_memory(
        arch,
        method=t.method,
        precision=t.training_precision,
        base_precision=cfg.model.precision,
        optimizer=t.optimizer_type,
        master_weights=t.master_weights,
        micro_batch=t.micro_batch_size,
        seq_len=t.sequence_length,
        checkpointing=t.gradient_checkpointing,
        flash_attention=t.flash_attention,
        zero_stage=zero,
        dp=gpus,
        lora_rank=t.lora_rank,
        targets=memory.lora_targets(t.lora_targets),
        lora_dropout=t.lora_dropout,
        logits_bytes=cfg.efficiency.loss_logits_bytes,
        chunked_loss=t.chunked_loss,
    )


def _gpu_counts(cfg: TrainingConfig) -> list[int]:
    """The GPU counts to try, fewest first: the one asked for, else 1, 2, 4, 8 then whole nodes doubling."""
    if cfg.gpu.num_gpus:
        return [cfg.gpu.num_gpus]
    per_node = cfg.gpu.gpus_per_node
    counts = [n for n in (1, 2, 4, 8) if n <= per_node] + [per_node * 2**k for k in range(0, 12)]
    return sorted({n for n in counts if n <= MAX_GPUS})


def _fit(arch: ModelArch, cfg: TrainingConfig, gpu: GPU, catalog: Catalog) -> Layout:
    """The fewest GPUs (then least sharding) that hold one training step."""
    t = cfg.training
    usable = cfg.gpu.gpu_memory_gb if (cfg.gpu.gpu_memory_gb and cfg.gpu.gpu_type) else gpu.memory_gb
    usable *= cfg.efficiency.gpu_memory_utilization
    stages = [t.zero_stage] if t.zero_stage is not None else [0, 1, 2, 3]
    max_dp = max(1, t.global_batch_size // t.micro_batch_size)
    floor = memory_per_gpu(arch, cfg, MAX_GPUS, 3)
    per_gpu_floor = floor.activations_gb + floor.buffers_gb
    if per_gpu_floor > usable and not cfg.gpu.num_gpus:
        mem = memory_per_gpu(arch, cfg, 1, 0)
        return Layout(
            gpu,
            1,
            0,
            False,
            f"activations alone need {floor.activations_gb:.1f} GB per GPU (micro batch {t.micro_batch_size} x "
            f"{t.sequence_length} tokens), more than the {usable:.1f} GB usable on {gpu.name}, however many GPUs "
            "share the model states",
            mem,
        )
    last: Layout | None = None
    for n in _gpu_counts(cfg):
        for z in stages:
            if n == 1 and z > 0 and t.zero_stage is None:
                continue
            mem = memory_per_gpu(arch, cfg, n, z)
            layout = Layout(gpu, n, z, mem.total_gb <= usable, "", mem)
            if layout.fits:
                if n > max_dp and not cfg.gpu.num_gpus:
                    layout.reason = (
                        f"needs {n} GPUs but the global batch of {t.global_batch_size} sequences only feeds {max_dp}"
                    )
                return layout
            last = layout
        if cfg.gpu.num_gpus:
            break
    if last is None:  # pragma: no cover - every loop above runs at least once
        raise ConfigError("no GPU count to try")
    last.fits = False
    last.reason = (
        f"{last.mem.total_gb:.1f} GB per GPU needed with {last.gpus} GPUs (ZeRO-{last.zero}), "
        f"{usable:.1f} GB usable on {gpu.name}"
    )
    return last


def fill_throughput(arch: ModelArch, cfg: TrainingConfig, layout: Layout) -> None:
    """Fill in the data-parallel layout, tokens/s and duration of ``layout``."""
    t = cfg.training
    dtype, _ = perf.compute_dtype(layout.gpu, t.training_precision, training=True)
    per_gpu = perf.training_tokens_per_second(
        arch,
        layout.gpu,
        cfg.efficiency,
        dtype=dtype,
        seq_len=t.sequence_length,
        method=t.method,
        recompute=t.gradient_checkpointing,
    )
    nodes = math.ceil(layout.gpus / cfg.gpu.gpus_per_node)
    scale = cfg.efficiency.multi_node_scaling if nodes > 1 else 1.0
    layout.nodes = nodes
    layout.dp = layout.gpus
    layout.grad_accum = t.gradient_accumulation_steps or max(
        1, round(t.global_batch_size / (t.micro_batch_size * layout.dp))
    )
    layout.tokens_per_s_gpu = per_gpu * scale
    layout.total_tps = layout.tokens_per_s_gpu * layout.gpus
    layout.hours = t.dataset_size_tokens * t.num_epochs / layout.total_tps / 3600


def plan_gpu(arch: ModelArch, cfg: TrainingConfig, gpu: GPU, catalog: Catalog) -> Layout:
    """Size a run on one GPU type (memory first, then a duration target if any)."""
    t = cfg.training
    layout = _fit(arch, cfg, gpu, catalog)
    layout.price = price_for(catalog, gpu.name, cfg.service.cloud_provider)
    if not layout.fits:
        return layout
    if t.gradient_accumulation_steps and not cfg.gpu.num_gpus:
        # The accumulation the user fixed decides the data-parallel size: global / (micro x accumulation).
        wanted = t.global_batch_size // (t.micro_batch_size * t.gradient_accumulation_steps)
        if wanted > layout.gpus:
            layout = Layout(
                gpu, wanted, layout.zero, True, "", memory_per_gpu(arch, cfg, wanted, layout.zero), price=layout.price
            )
    fill_throughput(arch, cfg, layout)
    if t.max_duration_hours and not cfg.gpu.num_gpus and not t.gradient_accumulation_steps:
        max_dp = max(1, t.global_batch_size // t.micro_batch_size)
        while layout.hours > t.max_duration_hours and layout.gpus * 2 <= min(max_dp, MAX_GPUS):
            bigger = layout.gpus * 2
            zero = layout.zero
            mem = memory_per_gpu(arch, cfg, bigger, zero)
            layout = Layout(gpu, bigger, zero, True, "", mem, price=layout.price)
            fill_throughput(arch, cfg, layout)
    return layout


def rank_key(x: Layout) -> tuple[int, int, float, float, str]:
    """Sort key of the options: fits, has a price, cheapest, fastest, then by name."""
    cost = x.cost()
    return (not x.fits, cost is None, cost or 0.0, x.hours, x.gpu.name)
