"""Config files and flags: load a JSON (or YAML) config, apply command-line overrides, validate.

Precedence, lowest to highest: defaults, the ``--config`` file, then the command-line flags
(the requirements' "mixed mode"). Every error names the field, the flag that sets it, what was
expected and what was found, and repeats the field's description so it can be fixed without docs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from lf.errors import ConfigError
from lf_planner.config import InferenceConfig, TrainingConfig

S = TypeVar("S", InferenceConfig, TrainingConfig)

#: Command-line option -> config path (shared by both modes where the names match).
FLAGS: dict[str, str] = {
    "rps": "workload.requests_per_second",
    "input_tokens": "workload.avg_input_tokens",
    "output_tokens": "workload.avg_output_tokens",
    "peak_multiplier": "workload.peak_load_multiplier",
    "growth_rate": "workload.growth_rate",
    "model_size": "model.model_size_billions",
    "model": "model.model_path",
    "precision": "model.precision",
    "kv_cache_precision": "model.kv_cache_precision",
    "context_window": "model.context_window",
    "batch_size": "model.batch_size",
    "latency_p50": "model.target_latency_p50_ms",
    "latency_p99": "model.target_latency_p99_ms",
    "itl_target": "model.target_itl_ms",
    "gpu_type": "gpu.gpu_type",
    "gpu_memory_gb": "gpu.gpu_memory_gb",
    "target_gpu_utilization": "gpu.target_gpu_utilization",
    "current_replicas": "gpu.current_replicas",
    "num_gpus": "gpu.num_gpus",
    "gpus_per_node": "gpu.gpus_per_node",
    "cloud_provider": "service.cloud_provider",
    "region": "service.region",
    "service_id": "service.service_id",
    "service_name": "service.service_name",
    "team_id": "service.team_id",
    "environment": "service.environment",
    "criticality": "service.criticality",
    "cost": "options.include_cost",
    "output": "options.output_file",
    "hardware": "options.hardware_file",
    "dataset_size": "training.dataset_size_tokens",
    "sequence_length": "training.sequence_length",
    "epochs": "training.num_epochs",
    "global_batch_size": "training.global_batch_size",
    "micro_batch_size": "training.micro_batch_size",
    "gradient_accumulation": "training.gradient_accumulation_steps",
    "optimizer": "training.optimizer_type",
    "gradient_checkpointing": "training.gradient_checkpointing",
    "training_precision": "training.training_precision",
    "method": "training.method",
    "lora_rank": "training.lora_rank",
    "lora_targets": "training.lora_targets",
    "zero_stage": "training.zero_stage",
    "max_duration_hours": "training.max_duration_hours",
}
FLAG_OF = {path: "--" + name.replace("_", "-") for name, path in FLAGS.items()}

_UPPER = {"model.precision", "model.kv_cache_precision", "training.training_precision"}
_OPTIMIZERS = {
    "adam": "Adam",
    "adamw": "AdamW",
    "adam8bit": "Adam8bit",
    "adamw8bit": "Adam8bit",
    "8bit-adam": "Adam8bit",
    "adam-8bit": "Adam8bit",
    "adafactor": "Adafactor",
    "sgd": "SGD",
}


def read(path: str | Path) -> dict[str, Any]:
    """A config file as a mapping (JSON; YAML accepted too); errors name the line."""
    from lf.config import read_config_file

    return read_config_file(path)


def detect_mode(data: dict[str, Any], source: str) -> str:
    """``inference`` or ``training``, from ``mode`` or from the sections present."""
    mode = data.get("mode")
    if mode is None:
        mode = "training" if "training" in data else "inference"
    if mode not in ("inference", "training"):
        raise ConfigError(
            f"{source}: mode must be 'inference' or 'training', found {mode!r}.",
            hint="Start from `lf plan --generate-config inference` (or training).",
        )
    return str(mode)


def build(
    struct: type[S], file: str | Path | None, flags: dict[str, Any], *, efficiency: dict[str, Any] | None = None
) -> S:
    """Defaults < ``efficiency`` (fitted factors) < ``file`` < ``flags`` (only those given), decoded and checked."""
    data: dict[str, Any] = {}
    source = "the command line"
    mode = "training" if struct is TrainingConfig else "inference"
    if file is not None:
        data = read(file)
        source = str(file)
        found = detect_mode(data, source)
        if found != mode:
            raise ConfigError(
                f"{source} is a {found} config, but this is `lf plan {mode}`.",
                hint=f"Run `lf plan {found} --config {file}` (or `lf plan --config {file}`).",
            )
    data = copy.deepcopy(data)
    data["mode"] = mode
    if efficiency:
        data["efficiency"] = {**efficiency, **(data.get("efficiency") or {})}
    for name, value in flags.items():
        if value is None or name not in FLAGS:
            continue
        path = FLAGS[name]
        if mode == "inference" and path.startswith("training."):
            continue
        if mode == "training" and path.startswith("workload."):
            continue
        if name == "cost" and value is False:
            continue
        if name == "lora_targets" and isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        _set(data, path.split("."), value)
    _normalize(data)
    return convert(data, struct, source)


def _set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _normalize(data: dict[str, Any]) -> None:
    """Accept fp16/bf16 and adamw spelled any case; the Structs use the canonical spelling."""
    for path in _UPPER:
        value = _get(data, path)
        if isinstance(value, str):
            _set(data, path.split("."), value.strip().upper())
    opt = _get(data, "training.optimizer_type")
    if isinstance(opt, str):
        _set(data, ["training", "optimizer_type"], _OPTIMIZERS.get(opt.strip().lower().replace("_", ""), opt))
    for path in ("training.method", "service.environment", "service.criticality", "service.cloud_provider"):
        value = _get(data, path)
        if isinstance(value, str):
            _set(data, path.split("."), value.strip().lower())


def convert(data: dict[str, Any], struct: type[S], source: str) -> S:
    """Decode with messages naming the field, its flag and its description."""
    from lf.config import convert as lf_convert

    try:
        return lf_convert(data, struct, source=source)
    except ConfigError as exc:
        field = str(exc.details.get("field", ""))
        flag = FLAG_OF.get(field)
        description = describe(struct, field)
        message = exc.message
        if flag:
            message += f" (set by {flag})"
        hint = " ".join(x for x in (exc.hint, description) if x) or None
        raise ConfigError(message, hint=hint, details=exc.details) from None


def describe(struct: type[msgspec.Struct], field: str) -> str:
    """The description of a dotted field of ``struct``, or ''."""
    if not field:
        return ""
    from lf.config import describe_fields

    for doc in describe_fields(struct):
        if doc.path == field:
            return doc.description
    return ""


def template(mode: str) -> dict[str, Any]:
    """A config to start from: the requirements' example values, every section present."""
    from lf_planner.config import Constants, Efficiency

    common = {
        "efficiency": msgspec.to_builtins(Efficiency()),
        "constants": msgspec.to_builtins(Constants()),
    }
    if mode == "inference":
        return _inference_template(common)
    if mode == "training":
        return _training_template(common)
    raise ConfigError(f"Unknown config kind '{mode}'.", hint="Use --generate-config inference or training.")


def _inference_template(common: dict[str, Any]) -> dict[str, Any]:
    """The serving example: 10 rps of a 70B FP16 chat model on A100s, with latency targets and costs."""
    return {
        "mode": "inference",
        "workload": {
            "requests_per_second": 10.0,
            "avg_input_tokens": 500,
            "avg_output_tokens": 200,
            "peak_load_multiplier": 1.5,
            "growth_rate": 20.0,
        },
        "model": {
            "model_size_billions": 70,
            "precision": "FP16",
            "context_window": 8192,
            "target_latency_p50_ms": 300,
            "target_latency_p99_ms": 1500,
        },
        "gpu": {"gpu_type": "A100-80GB", "target_gpu_utilization": 0.7, "current_replicas": 2},
        "service": {
            "service_id": "chat-api",
            "service_name": "Chat API Service",
            "team_id": "team_platform",
            "environment": "prod",
            "criticality": "high",
            "cloud_provider": "aws",
            "region": "us-east-1",
        },
        "options": {"include_cost": True, "output_file": "capacity_plan.json"},
        **common,
    }


def _training_template(common: dict[str, Any]) -> dict[str, Any]:
    """The fine-tuning example: 1B tokens x 3 epochs of a 70B model on H100s, with costs."""
    return {
        "mode": "training",
        "training": {
            "dataset_size_tokens": 1_000_000_000,
            "sequence_length": 4096,
            "num_epochs": 3,
            "global_batch_size": 64,
            "micro_batch_size": 1,
            "optimizer_type": "AdamW",
            "gradient_checkpointing": True,
            "training_precision": "BF16",
            "method": "full",
        },
        "model": {"model_size_billions": 70, "precision": "BF16"},
        "gpu": {"gpu_type": "H100-80GB", "target_gpu_utilization": 0.85},
        "service": {
            "service_id": "finetuning-job-001",
            "team_id": "team_ml",
            "environment": "prod",
            "cloud_provider": "aws",
            "region": "us-east-1",
        },
        "options": {"include_cost": True, "output_file": "training_plan.json"},
        **common,
    }
