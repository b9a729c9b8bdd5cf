"""The fine-tuning plan: per-GPU memory, GPU count, data-parallel layout, throughput, duration, cost.

For each GPU type the planner finds the fewest GPUs (and the least ZeRO/FSDP sharding) whose
memory holds the model states and one micro-batch's activations, widens data parallelism when a
duration target asks for it, and derives tokens/s from ``training_mfu`` of the dense peak.

The work is split by job: ``training_layout`` sizes a run on one GPU type, ``training_notes``
states the assumptions, ``training_sections`` builds the plan's sections; this module picks the
layout and assembles the plan.
"""

from __future__ import annotations

from lf.errors import ConfigError
from lf_planner import training_sections as sections
from lf_planner.architecture import ModelArch, resolve
from lf_planner.common import Notes, hardware_data, model_info, planner_version
from lf_planner.config import TrainingConfig
from lf_planner.hardware import Catalog
from lf_planner.plans import TrainingCapacityPlan
from lf_planner.training_layout import MAX_GPUS, Layout, fill_throughput, plan_gpu, rank_key
from lf_planner.training_notes import explain_training

__all__ = ["MAX_GPUS", "Layout", "generate_training_plan", "plan_gpu"]


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
        chosen = min(options.values(), key=rank_key)
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
        fill_throughput(arch, cfg, chosen)
    if chosen.reason and chosen.fits:
        notes.warn(chosen.reason)
    explain_training(notes, arch, cfg, chosen)
    return _assemble(arch, cfg, chosen, options, notes, catalog)


def _assemble(
    arch: ModelArch,
    cfg: TrainingConfig,
    chosen: Layout,
    options: dict[str, Layout],
    notes: Notes,
    catalog: Catalog,
) -> TrainingCapacityPlan:
    """The plan for ``chosen``; its sections add their notes and warnings in reading order."""
    t = cfg.training
    resources = sections.build_gpu_resources(cfg, chosen)
    effective = sections.effective_batch(notes, cfg, chosen)
    metrics = sections.build_metrics(arch, cfg, chosen, effective)
    data_parallel = sections.build_data_parallel(cfg, chosen, effective)
    storage = sections.build_storage(arch, cfg, chosen)
    cost = sections.build_cost(notes, cfg, chosen)
    return TrainingCapacityPlan(
        planner_version=planner_version(),
        training_input=t,
        model_config=cfg.model,
        gpu_config=cfg.gpu,
        service=cfg.service,
        model=model_info(arch, cfg.model.precision, None, nf4=t.method == "qlora"),
        gpu_resources=resources,
        training_metrics=metrics,
        data_parallel_config=data_parallel,
        storage=storage,
        cost=cost,
        gpu_comparison=sections.build_gpu_comparison(options),
        efficiency=cfg.efficiency,
        constants=cfg.constants,
        assumptions=notes.assumptions,
        warnings=notes.warnings,
        hardware_data=hardware_data(catalog),
    )
