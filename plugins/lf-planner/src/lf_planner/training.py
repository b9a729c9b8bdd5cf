"""The fine-tuning plan: per-GPU memory, GPU count, data-parallel layout, throughput, duration, cost.

For each GPU type the planner finds the fewest GPUs (and the least ZeRO/FSDP sharding) whose
memory holds the model states and one micro-batch's activations, widens data parallelism when a
duration target asks for it, and derives tokens/s from ``training_mfu`` of the dense peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lf.errors import ConfigError
from lf_planner import memory, perf
from lf_planner.architecture import ModelArch, resolve
from lf_planner.common import Notes, hardware_data, model_info, planner_version, price_for, r, weights_text
from lf_planner.config import TrainingConfig
from lf_planner.hardware import GPU, Catalog, Price
from lf_planner.plans import (
    DataParallelConfig,
    TrainingCapacityPlan,
    TrainingCost,
    TrainingGPUResources,
    TrainingMetrics,
    TrainingOption,
    TrainingStorage,
)

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


def _memory(arch: ModelArch, cfg: TrainingConfig, gpus: int, zero: int) -> memory.TrainingMemory:
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
    floor = _memory(arch, cfg, MAX_GPUS, 3)
    per_gpu_floor = floor.activations_gb + floor.buffers_gb
    if per_gpu_floor > usable and not cfg.gpu.num_gpus:
        mem = _memory(arch, cfg, 1, 0)
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
            mem = _memory(arch, cfg, n, z)
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


def _throughput(arch: ModelArch, cfg: TrainingConfig, layout: Layout) -> None:
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
                gpu, wanted, layout.zero, True, "", _memory(arch, cfg, wanted, layout.zero), price=layout.price
            )
    _throughput(arch, cfg, layout)
    if t.max_duration_hours and not cfg.gpu.num_gpus and not t.gradient_accumulation_steps:
        max_dp = max(1, t.global_batch_size // t.micro_batch_size)
        while layout.hours > t.max_duration_hours and layout.gpus * 2 <= min(max_dp, MAX_GPUS):
            bigger = layout.gpus * 2
            zero = layout.zero
            mem = _memory(arch, cfg, bigger, zero)
            layout = Layout(gpu, bigger, zero, True, "", mem, price=layout.price)
            _throughput(arch, cfg, layout)
    return layout


def _rank(x: Layout) -> tuple[int, int, float, float, str]:
    cost = x.cost()
    return (not x.fits, cost is None, cost or 0.0, x.hours, x.gpu.name)


def generate_training_plan(cfg: TrainingConfig, catalog: Catalog) -> TrainingCapacityPlan:
    """Plan the fine-tuning run ``cfg`` describes."""
    from lf_planner.validate import validate_training

    validate_training(cfg, catalog)
    arch = resolve(cfg.model.model_size_billions, cfg.model.model_path)
    t = cfg.training
    notes = Notes()
    if arch.max_position and t.sequence_length > arch.max_position:
        notes.warn(
            f"sequence_length {t.sequence_length} is longer than the model's {arch.max_position} positions: "
            "it needs RoPE scaling or a long-context variant."
        )
    usable_gpus = [
        g
        for g in sorted(catalog.gpus.values(), key=lambda g: g.name)
        if t.training_precision != "FP8" or g.tflops("fp8") is not None
    ]
    options = {g.name: plan_gpu(arch, cfg, g, catalog) for g in usable_gpus}
    if cfg.gpu.gpu_type:
        gpu = catalog.gpu(cfg.gpu.gpu_type)
        chosen = plan_gpu(arch, cfg, gpu, catalog)
        options[gpu.name] = chosen
    else:
        chosen = min(options.values(), key=_rank)
    if not chosen.fits and not cfg.gpu.num_gpus:
        raise ConfigError(
            f"The training run does not fit on {chosen.gpu.name}: {chosen.reason}.",
            hint="Enable --gradient-checkpointing, use --method lora or qlora, a smaller --micro-batch-size or "
            "--sequence-length, or a GPU with more memory.",
        )
    if not chosen.fits:
        notes.warn(
            f"Does not fit: {chosen.reason}. Enable --gradient-checkpointing, use --zero-stage 3, --method lora/qlora, "
            "a smaller --micro-batch-size, or more GPUs."
        )
        _throughput(arch, cfg, chosen)
    if chosen.reason and chosen.fits:
        notes.warn(chosen.reason)
    _explain(notes, arch, cfg, chosen)
    return _assemble(arch, cfg, chosen, options, notes, catalog)


def _explain(notes: Notes, arch: ModelArch, cfg: TrainingConfig, x: Layout) -> None:
    t, eff = cfg.training, cfg.efficiency
    notes.add(["model"], f"Architecture: {arch.source}.")
    if t.method == "full":
        master = t.master_weights and t.training_precision != "FP32"
        notes.add(
            ["gpu_resources.model_weights_gb", "gpu_resources.gradients_gb", "gpu_resources.optimizer_states_gb"],
            f"Model states (ZeRO paper): {'4' if t.training_precision == 'FP32' else '2'} B weights + "
            f"{'4' if t.training_precision == 'FP32' else '2'} B gradients + {t.optimizer_type} states "
            + (
                "with an FP32 master copy (mixed precision: 16 B/param with Adam)"
                if master
                else "without master weights"
            )
            + (" + an FP8 weight copy (Transformer Engine)" if t.training_precision == "FP8" else "")
            + f"; ZeRO stage {x.zero} shards "
            + {
                0: "nothing",
                1: "optimizer states",
                2: "optimizer states and gradients",
                3: "optimizer states, gradients and weights",
            }[x.zero]
            + f" over {x.gpus} GPU(s).",
        )
    else:
        nf4 = t.method == "qlora"
        notes.add(
            ["gpu_resources.model_weights_gb"],
            ("QLoRA: frozen base in NF4. " if nf4 else "LoRA: frozen base weights. ")
            + weights_text(
                arch,
                "BF16" if nf4 or cfg.model.precision not in ("FP32", "FP16", "BF16") else cfg.model.precision,
                nf4=nf4,
            )
            + f" Adapters: r={t.lora_rank} on {', '.join(sorted(memory.lora_targets(t.lora_targets)))}: "
            f"{x.mem.trainable_params / 1e6:.1f}M trainable parameters in FP32 with their gradients and "
            "optimizer states.",
        )
    notes.add(
        ["gpu_resources.activations_gb"],
        "Activations per Korthikanti et al. (2022), counted per tensor for a pre-norm GQA + "
        + ("SwiGLU" if arch.gated_mlp else "GELU")
        + " layer "
        + (
            "with FlashAttention (no S x S scores)"
            if t.flash_attention
            else "with eager attention (S x S probabilities per head)"
        )
        + ", no dropout"
        + ("; frozen linear layers keep no input copy" if t.method != "full" else "")
        + (
            "; full recomputation keeps each layer's input and recomputes one layer at a time (8/6 of the compute)"
            if t.gradient_checkpointing
            else ""
        )
        + f"; plus the loss logits: tokens x vocab {arch.vocab} x "
        + (f"{eff.loss_logits_bytes:g} B" if not t.chunked_loss else "~3 B (chunked cross-entropy)")
        + ". Measured peaks exclude the CUDA context, so only "
        f"{eff.gpu_memory_utilization:.0%} of each GPU is planned.",
    )
    dtype, fallback = perf.compute_dtype(x.gpu, t.training_precision, training=True)
    flops = perf.training_flops_per_token(
        arch, seq_len=t.sequence_length, frozen=t.method != "full", recompute=t.gradient_checkpointing
    )
    notes.add(
        ["training_metrics.tokens_per_second_per_gpu", "training_metrics.estimated_duration_hours"],
        f"Compute: {flops / 1e9:.1f} GFLOPs per token = "
        + ("6N" if t.method == "full" else "4N (frozen weights need no weight gradients)")
        + " + causal attention"
        + (" x 8/6 (recomputation)" if t.gradient_checkpointing else "")
        + f", N = {arch.matmul_params() / 1e9:.2f}B, at {eff.training_mfu:.0%} of the dense {dtype.upper()} peak "
        f"({x.gpu.tflops(dtype):g} TFLOPS)"
        + (f", / {eff.qlora_slowdown:g} for dequantizing NF4" if t.method == "qlora" else "")
        + (f"; x {eff.multi_node_scaling:.0%} across {x.nodes} nodes" if x.nodes > 1 else "")
        + ".",
    )
    if fallback:
        notes.warn(fallback)
    notes.add(
        ["data_parallel_config"],
        "Pure data parallelism (each GPU a full replica, sharded by ZeRO/FSDP when needed): global batch = "
        "micro batch x gradient accumulation x data-parallel GPUs.",
    )
    const = cfg.constants
    notes.add(
        ["storage"],
        "Checkpoints hold 16-bit weights + optimizer states (adapters only for LoRA/QLoRA), "
        f"{const.checkpoints_kept} kept; "
        f"the dataset takes {const.dataset_bytes_per_token:g} B per token (raw text + token ids).",
    )


def _assemble(
    arch: ModelArch,
    cfg: TrainingConfig,
    x: Layout,
    options: dict[str, Layout],
    notes: Notes,
    catalog: Catalog,
) -> TrainingCapacityPlan:
    t, const, eff = cfg.training, cfg.constants, cfg.efficiency
    mem = x.mem
    resources = TrainingGPUResources(
        gpu_memory_per_gpu_gb=r(mem.total_gb),
        model_weights_gb=r(mem.weights_gb),
        gradients_gb=r(mem.gradients_gb),
        optimizer_states_gb=r(mem.optimizer_gb),
        activations_gb=r(mem.activations_gb),
        buffers_gb=r(mem.buffers_gb),
        activations_without_checkpointing_gb=r(mem.activations_without_checkpointing_gb),
        fits_in_memory=x.fits,
        required_gpus=x.gpus,
        recommended_gpu_type=x.gpu.name,
        gpu_memory_gb=cfg.gpu.gpu_memory_gb or x.gpu.memory_gb,
        gpus_per_node=min(cfg.gpu.gpus_per_node, x.gpus),
        num_nodes=x.nodes,
        zero_stage=x.zero,
        trainable_parameters_billions=r(mem.trainable_params / 1e9, 4),
    )
    effective = t.micro_batch_size * x.grad_accum * x.dp
    if effective != t.global_batch_size:
        notes.warn(
            f"The global batch of {t.global_batch_size} is not a multiple of micro batch x GPUs "
            f"({t.micro_batch_size} x {x.dp}): the plan uses {effective} sequences per step."
        )
    steps_epoch = math.ceil(t.dataset_size_tokens / (effective * t.sequence_length))
    flops = perf.training_flops_per_token(
        arch, seq_len=t.sequence_length, frozen=t.method != "full", recompute=t.gradient_checkpointing
    )
    dtype, _ = perf.compute_dtype(x.gpu, t.training_precision, training=True)
    metrics = TrainingMetrics(
        tokens_per_second_per_gpu=r(x.tokens_per_s_gpu, 1),
        total_tokens_per_second=r(x.total_tps, 1),
        steps_per_epoch=steps_epoch,
        total_steps=steps_epoch * t.num_epochs,
        total_tokens=t.dataset_size_tokens * t.num_epochs,
        step_time_seconds=r(effective * t.sequence_length / x.total_tps, 3),
        estimated_duration_hours=r(x.hours, 3),
        estimated_duration_days=r(x.hours / 24, 3),
        flops_per_token=r(flops, 0),
        model_flops_utilization=r(eff.training_mfu / (eff.qlora_slowdown if t.method == "qlora" else 1.0), 3),
    )
    dp = DataParallelConfig(
        data_parallel_size=x.dp,
        effective_batch_size=effective,
        effective_batch_tokens=effective * t.sequence_length,
        micro_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=x.grad_accum,
    )
    if t.method == "full":
        ckpt = (
            arch.total_params()
            * (
                2
                + memory._optimizer_bytes(
                    t.optimizer_type, master=t.master_weights, fp32=t.training_precision == "FP32", arch=arch
                )
            )
            / memory.GB
        )
    else:
        ckpt = mem.trainable_params * (4 + 8) / memory.GB
    data_gb = t.dataset_size_tokens * const.dataset_bytes_per_token / memory.GB
    storage = TrainingStorage(
        model_checkpoint_gb=r(ckpt),
        checkpoints_kept=const.checkpoints_kept,
        dataset_storage_gb=r(data_gb),
        total_storage_gb=r(ckpt * const.checkpoints_kept + data_gb),
    )
    cost = None
    if cfg.options.include_cost:
        if x.price is None:
            where = f"at '{cfg.service.cloud_provider}'" if cfg.service.cloud_provider else "at any provider"
            notes.warn(f"No price for {x.gpu.name} {where} in the hardware file: cost omitted.")
        else:
            total = x.price.usd_per_gpu_hour * x.gpus * x.hours
            cost = TrainingCost(
                provider=x.price.provider,
                gpu_type=x.gpu.name,
                usd_per_gpu_hour=x.price.usd_per_gpu_hour,
                price_read_on=x.price.read_on,
                price_source=x.price.source,
                gpu_cost_per_hour=r(x.price.usd_per_gpu_hour * x.gpus),
                total_training_cost=r(total),
                cost_per_epoch=r(total / t.num_epochs),
                cost_per_million_tokens=r(total / (t.dataset_size_tokens * t.num_epochs) * 1e6, 4),
            )
            notes.add(
                ["cost"],
                f"GPU price {x.price.usd_per_gpu_hour:g} USD/GPU-hour on demand at {x.price.provider} "
                f"({x.price.product}), read {x.price.read_on} from {x.price.source}; GPU time only (storage and "
                "data transfer excluded), no spot or reserved discounts, no failed or restarted steps.",
            )
    comparison = [
        TrainingOption(
            gpu_type=o.gpu.name,
            fits=o.fits,
            reason=o.reason,
            gpus=o.gpus,
            zero_stage=o.zero,
            gpu_memory_per_gpu_gb=r(o.mem.total_gb),
            estimated_duration_hours=r(o.hours, 2) if o.fits else 0.0,
            provider=o.price.provider if o.price else None,
            usd_per_gpu_hour=o.price.usd_per_gpu_hour if o.price else None,
            total_training_cost=r(c, 0) if (c := o.cost()) is not None and o.fits else None,
        )
        for o in sorted(options.values(), key=_rank)
    ]
    _ = dtype
    return TrainingCapacityPlan(
        planner_version=planner_version(),
        training_input=t,
        model_config=cfg.model,
        gpu_config=cfg.gpu,
        service=cfg.service,
        model=model_info(arch, cfg.model.precision, None, nf4=t.method == "qlora"),
        gpu_resources=resources,
        training_metrics=metrics,
        data_parallel_config=dp,
        storage=storage,
        cost=cost,
        gpu_comparison=comparison,
        efficiency=eff,
        constants=const,
        assumptions=notes.assumptions,
        warnings=notes.warnings,
        hardware_data=hardware_data(catalog),
    )
