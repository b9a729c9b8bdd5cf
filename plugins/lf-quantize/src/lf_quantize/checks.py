"""Checks run before any heavy work: is this a model we can quantize, into an output we may write?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lf.errors import ConfigError, ModelNotFoundError
from lf_quantize.config import QuantizeConfig

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def read_model_config(model: str) -> dict[str, Any]:
    """``config.json`` of a model directory, with clear errors for what is not one."""
    path = Path(model)
    if not path.exists():
        raise ModelNotFoundError(
            f"Model directory not found: {path}", hint="Give a Hugging Face model directory (config.json inside)."
        )
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"{path} is not a Hugging Face model directory (no config.json).",
            hint="Point at the directory that save_pretrained wrote; GGUF files must be converted first.",
        )
    try:
        data = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path / 'config.json'} is not valid JSON: {exc}") from exc
    if not any(f.suffix in WEIGHT_SUFFIXES for f in path.iterdir()):
        raise ModelNotFoundError(f"{path} has a config.json but no weights (*.safetensors or *.bin).")
    return dict(data)


def check_not_quantized(model: str, config: dict[str, Any]) -> None:
    """Refuse a model whose weights are already quantized (re-quantizing loses quality for nothing)."""
    q = config.get("quantization_config")
    if not q:
        return
    method = q.get("quant_method") or q.get("method") or "an unknown method"
    extra = config.get("lf_quantization", {}).get("method")
    raise ConfigError(
        f"{model} is already quantized ({extra or method}); quantizing it again would only lose quality.",
        hint="Quantize the original, unquantized model instead.",
    )


def check_architecture(model: str, config: dict[str, Any]) -> str:
    """The architecture name, if transformers knows it as a causal language model."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = config.get("model_type")
    architecture = (config.get("architectures") or [str(model_type)])[0]
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ConfigError(
            f"{model}: unknown architecture '{architecture}' (model_type {model_type!r}); only causal language "
            "models that transformers knows can be quantized.",
            hint="Check config.json, or upgrade transformers if the architecture is newer than it.",
        )
    return str(architecture)


def _in_features(config: dict[str, Any]) -> dict[str, int]:
    text = config.get("text_config") or config
    hidden = int(text.get("hidden_size") or 0)
    heads = int(text.get("num_attention_heads") or 0)
    head_dim = int(text.get("head_dim") or (hidden // heads if heads else 0))
    sizes = {
        "hidden_size": hidden,
        "intermediate_size": int(text.get("intermediate_size") or 0),
        "num_attention_heads * head_dim": heads * head_dim,
    }
    return {k: v for k, v in sizes.items() if v}


DEFAULT_GROUP_SIZES = (128, 64, 32)


def check_group_size(config: dict[str, Any], group_size: int | None) -> int:
    """The group size to use: every quantized layer's input size must be a multiple of it.

    ``None`` picks the largest of 128, 64 and 32 that fits (SmolLM2's hidden size 576 takes 64).
    """
    sizes = _in_features(config)
    fitting = [g for g in DEFAULT_GROUP_SIZES if all(s % g == 0 for s in sizes.values())]
    if group_size is None:
        if not fitting:
            raise ConfigError(
                f"None of the usual group sizes ({', '.join(map(str, DEFAULT_GROUP_SIZES))}) divides the layers' "
                f"input sizes ({', '.join(f'{k} {v}' for k, v in sizes.items())}).",
                hint="Set group_size to a divisor of them, or -1 (one scale per output channel).",
            )
        return fitting[0]
    if group_size == -1:
        return group_size
    if group_size == 0:
        raise ConfigError("group_size must be -1 (per channel) or a positive number of weights.")
    bad = {name: size for name, size in sizes.items() if size % group_size}
    if bad:
        detail = ", ".join(f"{name} {size}" for name, size in bad.items())
        raise ConfigError(
            f"group_size {group_size} does not divide the layers' input sizes ({detail}).",
            hint=f"Use a group size that divides them ({', '.join(map(str, fitting)) or 'e.g. -1'}), "
            "or leave it empty to choose one.",
        )
    return group_size


def check_output(config: QuantizeConfig) -> None:
    """The output must not be the model itself, nor an existing directory unless ``overwrite``."""
    out, model = Path(config.output_dir).resolve(), Path(config.model).resolve()
    if out == model or model in out.parents:
        raise ConfigError(
            f"output_dir {config.output_dir} is (inside) the model directory.", hint="Write the output elsewhere."
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output_dir {config.output_dir} exists and is a file.")
    if out.exists() and any(out.iterdir()) and not config.overwrite:
        raise ConfigError(
            f"output_dir {config.output_dir} already exists and is not empty.",
            hint="Choose another directory, or set overwrite: true (--overwrite) to replace it.",
        )


def preflight(config: QuantizeConfig) -> tuple[dict[str, Any], int]:
    """The checks that need neither a model nor torch; returns ``(config.json, group size)``."""
    model_config = read_model_config(config.model)
    check_not_quantized(config.model, model_config)
    group_size = check_group_size(model_config, config.group_size)
    check_output(config)
    if config.eval_data:
        from lf_evaluate import load_texts

        load_texts(config.eval_data, max_samples=config.eval_max_samples)
    return model_config, group_size
