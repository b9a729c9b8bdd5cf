"""The planner's estimate for each measurement of a measured run, with given efficiency factors."""

from __future__ import annotations

import msgspec

from lf.errors import DataError
from lf_planner import memory, perf
from lf_planner.architecture import ModelArch, resolve
from lf_planner.calibration_runs import ModelRef, ResultsFile, ServingRun, TrainingRun
from lf_planner.config import Efficiency
from lf_planner.hardware import GPU, Catalog


def _arch(ref: ModelRef) -> ModelArch:
    return resolve(ref.model_size_billions, ref.model_path)


def predict(run: ServingRun | TrainingRun, eff: Efficiency, catalog: Catalog) -> dict[str, float]:
    """The planner's estimate for every metric ``run`` measured."""
    arch = _arch(run.model)
    gpu = catalog.gpu(run.gpu_type)
    if isinstance(run, TrainingRun):
        return _predict_training(run, arch, gpu, eff)
    return _predict_serving(run, arch, gpu, eff, catalog)


def _predict_training(run: TrainingRun, arch: ModelArch, gpu: GPU, eff: Efficiency) -> dict[str, float]:
    """Tokens/s per GPU and peak memory per GPU of a training run, as far as it measured them."""
    out: dict[str, float] = {}
    m = run.measured
    if m.tokens_per_s_per_gpu is not None:
        dtype, _ = perf.compute_dtype(gpu, run.precision, training=True)
        tps = perf.training_tokens_per_second(
            arch, gpu, eff, dtype=dtype, seq_len=run.sequence_length, method=run.method,
            recompute=run.gradient_checkpointing,
        )  # fmt: skip
        if run.num_gpus > run.gpus_per_node:
            tps *= eff.multi_node_scaling
        out["tokens_per_s_per_gpu"] = tps
    if m.peak_memory_gb is not None:
        mem = memory.training_memory(
            arch,
            method=run.method,
            precision=run.precision,
            base_precision=run.base_precision,
            optimizer=run.optimizer,
            master_weights=run.master_weights,
            micro_batch=run.micro_batch_size,
            seq_len=run.sequence_length,
            checkpointing=run.gradient_checkpointing,
            flash_attention=run.flash_attention,
            zero_stage=run.zero_stage,
            dp=run.num_gpus,
            lora_rank=run.lora_rank,
            targets=memory.lora_targets(run.lora_targets),
            lora_dropout=0.0,
            logits_bytes=eff.loss_logits_bytes,
            chunked_loss=run.chunked_loss,
            framework=run.framework,
        )
        out["peak_memory_gb"] = mem.total_gb
    return out


def _predict_serving(run: ServingRun, arch: ModelArch, gpu: GPU, eff: Efficiency, catalog: Catalog) -> dict[str, float]:
    """TTFT, output tokens/s and ITL of a serving run, as far as it measured them."""
    from lf_planner.config import InferenceConfig, LLMWorkloadInput, ModelConfig
    from lf_planner.inference_replica import ReplicaModel, evaluate

    out: dict[str, float] = {}
    cfg = InferenceConfig(
        workload=LLMWorkloadInput(
            requests_per_second=1.0, avg_input_tokens=run.input_tokens, avg_output_tokens=run.output_tokens
        ),
        model=ModelConfig(
            model_size_billions=run.model.model_size_billions,
            model_path=run.model.model_path,
            precision=run.precision,
            kv_cache_precision=run.kv_cache_precision,
            context_window=run.input_tokens + run.output_tokens,
            batch_size=run.batch_size,
        ),
        efficiency=eff,
    )
    sm = run.measured
    dtype, _ = perf.compute_dtype(gpu, run.precision)
    model = ReplicaModel(arch, cfg, gpu, run.tensor_parallel, dtype)
    if sm.ttft_ms is not None:
        out["ttft_ms"] = model.ttft_idle * 1000
    if sm.output_tokens_per_s is not None or sm.itl_ms is not None:
        c = evaluate(arch, cfg, gpu, run.tensor_parallel, catalog)
        if not c.fits:
            raise DataError(f"run {run.name or run.gpu_type}: the model does not fit ({c.reason}).")
        if sm.output_tokens_per_s is not None:
            out["output_tokens_per_s"] = c.tps
        if sm.itl_ms is not None:
            out["itl_ms"] = model.itl(c.batch) * 1000
    return out


def measurements(run: ServingRun | TrainingRun) -> dict[str, float]:
    """The measured values of ``run`` by metric."""
    return {k: v for k, v in msgspec.to_builtins(run.measured).items() if v is not None}


def compare(results: ResultsFile, eff: Efficiency, catalog: Catalog) -> list[tuple[str, str, float, float]]:
    """``(run, metric, measured, estimated)`` for every measurement."""
    rows = []
    for i, run in enumerate(results.runs):
        name = run.name or f"run {i + 1}"
        estimates = predict(run, eff, catalog)
        for metric, value in measurements(run).items():
            rows.append((name, metric, value, estimates[metric]))
    return rows
