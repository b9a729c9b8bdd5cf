"""Cross-field checks with messages a user can act on without the docs.

Types and ranges are checked when the config is decoded (msgspec, see ``configfile``); these
are the rules that involve several fields or the hardware catalog.
"""

from __future__ import annotations

from lf.errors import ConfigError
from lf_planner.config import LORA_MODULES, InferenceConfig, TrainingConfig
from lf_planner.hardware import Catalog


def _model(cfg: InferenceConfig | TrainingConfig) -> None:
    m = cfg.model
    if not m.model_size_billions and not m.model_path:
        raise ConfigError(
            "The model is missing: give its size or its architecture.",
            hint="Use --model-size 70 (billions of parameters), or --model PATH (a model directory, its "
            "config.json, or a known name such as llama-3.1-70b; `lf plan models` lists them).",
        )


def _gpu(cfg: InferenceConfig | TrainingConfig, catalog: Catalog) -> None:
    if cfg.gpu.gpu_type:
        catalog.gpu(cfg.gpu.gpu_type)
    if cfg.gpu.gpu_memory_gb and not cfg.gpu.gpu_type:
        raise ConfigError(
            "gpu_memory_gb overrides the memory of a GPU type, but no gpu_type was given.",
            hint="Add --gpu-type (e.g. A100-80GB), or drop --gpu-memory-gb.",
        )
    if cfg.options.include_cost or cfg.service.cloud_provider:
        catalog.check_provider(cfg.service.cloud_provider)


def validate_inference(cfg: InferenceConfig, catalog: Catalog) -> None:
    """Reject an inference config whose fields contradict each other."""
    _model(cfg)
    _gpu(cfg, catalog)
    w, m = cfg.workload, cfg.model
    total = w.avg_input_tokens + w.avg_output_tokens
    if total > m.context_window:
        raise ConfigError(
            f"avg_input_tokens + avg_output_tokens = {total} is longer than context_window = {m.context_window}.",
            hint=f"Raise --context-window to at least {total}, or lower --input-tokens / --output-tokens.",
        )
    if m.target_latency_p50_ms and m.target_latency_p99_ms and m.target_latency_p99_ms < m.target_latency_p50_ms:
        raise ConfigError(
            f"The p99 latency target ({m.target_latency_p99_ms:g} ms) is below the p50 target "
            f"({m.target_latency_p50_ms:g} ms); the 99th percentile cannot be faster than the median.",
            hint="Swap them, or raise --latency-p99.",
        )


def validate_training(cfg: TrainingConfig, catalog: Catalog) -> None:
    """Reject a training config whose fields contradict each other."""
    _model(cfg)
    _gpu(cfg, catalog)
    t = cfg.training
    if t.global_batch_size % t.micro_batch_size:
        raise ConfigError(
            f"global_batch_size={t.global_batch_size} is not a multiple of micro_batch_size={t.micro_batch_size}.",
            hint="The global batch is micro batch x gradient accumulation x data-parallel GPUs; "
            "pick sizes that divide.",
        )
    if t.gradient_accumulation_steps:
        per_gpu = t.micro_batch_size * t.gradient_accumulation_steps
        if t.global_batch_size % per_gpu:
            raise ConfigError(
                f"global_batch_size={t.global_batch_size} is not a multiple of micro_batch_size x "
                f"gradient_accumulation_steps = {per_gpu}.",
                hint="Drop --gradient-accumulation (the planner derives it), or make the global batch a multiple.",
            )
        if cfg.gpu.num_gpus and per_gpu * cfg.gpu.num_gpus != t.global_batch_size:
            raise ConfigError(
                f"micro_batch_size x gradient_accumulation_steps x num_gpus = {per_gpu * cfg.gpu.num_gpus}, "
                f"but global_batch_size = {t.global_batch_size}.",
                hint="Drop one of --gradient-accumulation or --num-gpus and let the planner derive it.",
            )
    known = {
        *LORA_MODULES,
        *("all-linear", "all_linear", "attention", "mlp", "output_proj", "query", "key", "value"),
        *("query_key_value", "qkv_proj", "w1", "w2", "w3", "fc1", "fc2", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    }
    unknown = [x for x in t.lora_targets if x.strip().lower() not in known]
    if t.method != "full" and (unknown or not t.lora_targets):
        raise ConfigError(
            f"Unknown LoRA target module(s): {', '.join(unknown) or '(none given)'}.",
            hint="Use names among " + ", ".join(LORA_MODULES) + ", or all-linear / attention / mlp.",
        )
    if t.training_precision == "FP8" and cfg.gpu.gpu_type:
        gpu = catalog.gpu(cfg.gpu.gpu_type)
        if gpu.tflops("fp8") is None:
            raise ConfigError(
                f"FP8 training needs FP8 tensor cores, which {gpu.name} does not have.",
                hint="Use --training-precision BF16, or an H100/H200/B200/L40S/L4 GPU.",
            )
    if t.method == "qlora" and t.training_precision == "FP32":
        raise ConfigError(
            "QLoRA computes in 16 bits (BF16/FP16) on dequantized NF4 weights; FP32 is not a QLoRA setting.",
            hint="Use --training-precision BF16, or --method lora for FP32 LoRA.",
        )
