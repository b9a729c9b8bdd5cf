"""The serving plan: GPUs per replica, replicas, throughput, latency, storage, network, cost.

For each GPU type (and tensor-parallel degree) the planner fits the weights, sizes the KV cache,
picks the largest batch that meets the inter-token-latency target, derives a replica's
capacity with continuous batching (decode steps plus the amortized prefill of new requests),
then sizes replicas for the average, peak and grown load at the target utilization. The
cheapest option that meets the latency SLA is recommended; all options are kept for comparison.

The work is split by job: ``inference_replica`` sizes one candidate replica, ``inference_notes``
states the assumptions, ``inference_sections`` builds the plan's sections; this module picks the
option and assembles the plan.
"""

from __future__ import annotations

from lf.errors import ConfigError
from lf_planner import inference_sections as sections
from lf_planner.architecture import ModelArch, resolve
from lf_planner.common import Notes, hardware_data, model_info, planner_version
from lf_planner.config import InferenceConfig
from lf_planner.hardware import Catalog
from lf_planner.inference_notes import explain_inference
from lf_planner.inference_replica import Candidate, ReplicaModel, best_for_gpu, evaluate, rank_key
from lf_planner.plans import LLMCapacityPlan

__all__ = ["Candidate", "ReplicaModel", "best_for_gpu", "evaluate", "generate_inference_plan"]


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
        chosen = min(options.values(), key=lambda c: rank_key(c, hours, share))
    if not chosen.fits:
        raise ConfigError(
            f"The model does not fit on {chosen.gpu.name}: {chosen.reason}.",
            hint="Choose a GPU with more memory (or leave --gpu-type empty to get a recommendation), "
            "a lower precision (--precision INT8/INT4), or a shorter --context-window.",
        )
    explain_inference(notes, arch, cfg, chosen)
    return _assemble(arch, cfg, chosen, options, notes, catalog)


def _assemble(
    arch: ModelArch,
    cfg: InferenceConfig,
    chosen: Candidate,
    options: dict[str, Candidate],
    notes: Notes,
    catalog: Catalog,
) -> LLMCapacityPlan:
    """The plan for ``chosen``; its sections add their notes and warnings in reading order."""
    resources = sections.build_gpu_resources(cfg, chosen)
    sections.warn_missed_sla(notes, chosen)
    throughput = sections.build_throughput(cfg, chosen)
    storage = sections.build_storage(arch, cfg, chosen)
    network = sections.build_network(cfg, chosen)
    scaling = sections.build_scaling(notes, cfg, chosen)
    cost = sections.build_cost(cfg, chosen, storage, network, notes, catalog) if cfg.options.include_cost else None
    if cfg.options.include_cost and cost is None:
        where = f"at '{cfg.service.cloud_provider}'" if cfg.service.cloud_provider else "at any provider"
        notes.warn(
            f"No price for {chosen.gpu.name} {where} in the hardware file: cost omitted. "
            "Add one with --hardware FILE (see `lf plan gpus`)."
        )
    current = cfg.gpu.current_replicas
    if current is not None and current < chosen.max_replicas:
        notes.warn(f"{current} replicas run today; the plan needs up to {chosen.max_replicas} at peak.")
    return LLMCapacityPlan(
        planner_version=planner_version(),
        workload_input=cfg.workload,
        model_config=cfg.model,
        gpu_config=cfg.gpu,
        service=cfg.service,
        model=model_info(arch, cfg.model.precision, cfg.model.kv_cache_precision),
        gpu_resources=resources,
        throughput=throughput,
        storage=storage,
        network=network,
        scaling=scaling,
        cost=cost,
        gpu_comparison=sections.build_gpu_comparison(options, cfg.constants),
        load_curve=sections.build_load_curve(cfg, chosen),
        efficiency=cfg.efficiency,
        constants=cfg.constants,
        assumptions=notes.assumptions,
        warnings=notes.warnings,
        hardware_data=hardware_data(catalog),
    )
