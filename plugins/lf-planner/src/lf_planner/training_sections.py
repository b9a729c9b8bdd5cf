"""The sections of a fine-tuning plan, each built from the chosen layout."""

from __future__ import annotations

import math

from lf_planner import memory, perf
from lf_planner.architecture import ModelArch
from lf_planner.common import Notes, rounded
from lf_planner.config import TrainingConfig
from lf_planner.plans import (
    DataParallelConfig,
    TrainingCost,
    TrainingGPUResources,
    TrainingMetrics,
    TrainingOption,
    TrainingStorage,
)
from lf_planner.training_layout import Layout, rank_key


def build_gpu_resources(cfg: TrainingConfig, x: Layout) -> TrainingGPUResources:
    """Memory per GPU by kind, GPUs, nodes and the ZeRO stage."""
    mem = x.mem
    return TrainingGPUResources(
        gpu_memory_per_gpu_gb=rounded(mem.total_gb),
        model_weights_gb=rounded(mem.weights_gb),
        gradients_gb=rounded(mem.gradients_gb),
        optimizer_states_gb=rounded(mem.optimizer_gb),
        activations_gb=rounded(mem.activations_gb),
        buffers_gb=rounded(mem.buffers_gb),
        activations_without_checkpointing_gb=rounded(mem.activations_without_checkpointing_gb),
        fits_in_memory=x.fits,
        required_gpus=x.gpus,
        recommended_gpu_type=x.gpu.name,
        gpu_memory_gb=cfg.gpu.gpu_memory_gb or x.gpu.memory_gb,
        gpus_per_node=min(cfg.gpu.gpus_per_node, x.gpus),
        num_nodes=x.nodes,
        zero_stage=x.zero,
        trainable_parameters_billions=rounded(mem.trainable_params / 1e9, 4),
    )


def effective_batch(notes: Notes, cfg: TrainingConfig, x: Layout) -> int:
    """Sequences per optimizer step as laid out; warns when that is not the global batch asked for."""
    t = cfg.training
    effective = t.micro_batch_size * x.grad_accum * x.dp
    if effective != t.global_batch_size:
        notes.warn(
            f"The global batch of {t.global_batch_size} is not a multiple of micro batch x GPUs "
            f"({t.micro_batch_size} x {x.dp}): the plan uses {effective} sequences per step."
        )
    return effective


def build_metrics(arch: ModelArch, cfg: TrainingConfig, x: Layout, effective: int) -> TrainingMetrics:
    """Tokens/s, steps, duration, FLOPs per token and the utilization."""
    t, eff = cfg.training, cfg.efficiency
    steps_epoch = math.ceil(t.dataset_size_tokens / (effective * t.sequence_length))
    flops = perf.training_flops_per_token(
        arch, seq_len=t.sequence_length, frozen=t.method != "full", recompute=t.gradient_checkpointing
    )
    return TrainingMetrics(
        tokens_per_second_per_gpu=rounded(x.tokens_per_s_gpu, 1),
        total_tokens_per_second=rounded(x.total_tps, 1),
        steps_per_epoch=steps_epoch,
        total_steps=steps_epoch * t.num_epochs,
        total_tokens=t.dataset_size_tokens * t.num_epochs,
        step_time_seconds=rounded(effective * t.sequence_length / x.total_tps, 3),
        estimated_duration_hours=rounded(x.hours, 3),
        estimated_duration_days=rounded(x.hours / 24, 3),
        flops_per_token=rounded(flops, 0),
        model_flops_utilization=rounded(eff.training_mfu / (eff.qlora_slowdown if t.method == "qlora" else 1.0), 3),
    )


def build_data_parallel(cfg: TrainingConfig, x: Layout, effective: int) -> DataParallelConfig:
    """Data-parallel size, micro batch and gradient accumulation."""
    t = cfg.training
    return DataParallelConfig(
        data_parallel_size=x.dp,
        effective_batch_size=effective,
        effective_batch_tokens=effective * t.sequence_length,
        micro_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=x.grad_accum,
    )


def build_storage(arch: ModelArch, cfg: TrainingConfig, x: Layout) -> TrainingStorage:
    """Checkpoints (full states, or adapters only) and the dataset."""
    t, const = cfg.training, cfg.constants
    if t.method == "full":
        ckpt = (
            arch.total_params()
            * (
                2
                + memory.optimizer_bytes_per_param(
                    t.optimizer_type, master=t.master_weights, fp32=t.training_precision == "FP32", arch=arch
                )
            )
            / memory.GB
        )
    else:
        ckpt = x.mem.trainable_params * (4 + 8) / memory.GB
    data_gb = t.dataset_size_tokens * const.dataset_bytes_per_token / memory.GB
    return TrainingStorage(
        model_checkpoint_gb=rounded(ckpt),
        checkpoints_kept=const.checkpoints_kept,
        dataset_storage_gb=rounded(data_gb),
        total_storage_gb=rounded(ckpt * const.checkpoints_kept + data_gb),
    )


def build_cost(notes: Notes, cfg: TrainingConfig, x: Layout) -> TrainingCost | None:
    """GPU cost of the run when asked for (with its note); warns and returns None without a price."""
    t = cfg.training
    if not cfg.options.include_cost:
        return None
    if x.price is None:
        where = f"at '{cfg.service.cloud_provider}'" if cfg.service.cloud_provider else "at any provider"
        notes.warn(f"No price for {x.gpu.name} {where} in the hardware file: cost omitted.")
        return None
    total = x.price.usd_per_gpu_hour * x.gpus * x.hours
    cost = TrainingCost(
        provider=x.price.provider,
        gpu_type=x.gpu.name,
        usd_per_gpu_hour=x.price.usd_per_gpu_hour,
        price_read_on=x.price.read_on,
        price_source=x.price.source,
        gpu_cost_per_hour=rounded(x.price.usd_per_gpu_hour * x.gpus),
        total_training_cost=rounded(total),
        cost_per_epoch=rounded(total / t.num_epochs),
        cost_per_million_tokens=rounded(total / (t.dataset_size_tokens * t.num_epochs) * 1e6, 4),
    )
    notes.add(
        ["cost"],
        f"GPU price {x.price.usd_per_gpu_hour:g} USD/GPU-hour on demand at {x.price.provider} "
        f"({x.price.product}), read {x.price.read_on} from {x.price.source}; GPU time only (storage and "
        "data transfer excluded), no spot or reserved discounts, no failed or restarted steps.",
    )
    return cost


def build_gpu_comparison(options: dict[str, Layout]) -> list[TrainingOption]:
    """Every GPU type's best layout, best first."""
    return [
        TrainingOption(
            gpu_type=o.gpu.name,
            fits=o.fits,
            reason=o.reason,
            gpus=o.gpus,
            zero_stage=o.zero,
            gpu_memory_per_gpu_gb=rounded(o.mem.total_gb),
            estimated_duration_hours=rounded(o.hours, 2) if o.fits else 0.0,
            provider=o.price.provider if o.price else None,
            usd_per_gpu_hour=o.price.usd_per_gpu_hour if o.price else None,
            total_training_cost=rounded(c, 0) if (c := o.cost()) is not None and o.fits else None,
        )
        for o in sorted(options.values(), key=rank_key)
    ]
