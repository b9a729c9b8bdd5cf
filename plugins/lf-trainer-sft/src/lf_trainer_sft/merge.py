"""Merging a LoRA adapter into its base: ``lf merge lora BASE ADAPTER OUT`` and ``merge: true``.

Before anything heavy loads, the adapter is checked against BASE: it must be a LoRA
adapter, BASE must hold plain (not quantized) weights, and every adapted layer's shape
must match BASE's (read from the safetensors headers). The merge itself is PEFT's
``merge_and_unload`` in float32, cast to the chosen dtype; the result is a plain Hugging
Face directory with tokenizer, chat template and generation config, written atomically.
Its logits are then compared with base+adapter on a few prompts: a merge that does not
reproduce the adapter's outputs within tolerance fails instead of being kept.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lf.components import RunResult
from lf.errors import ConfigError, RunError

#: Relative tolerance (max |logit difference| / max |logit|) by output dtype.
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 5e-2}

VERIFY_PROMPTS = [
    "Hello! Who are you?",
    "What is the capital of France?",
    "Write one sentence about the sea.",
]


def merge_dtype(base_dir: str, dtype: str) -> str:
    """The dtype a merge writes: ``dtype``, or with ``auto`` the base model's (float32 when unknown)."""
    if dtype == "auto":
        config = Path(base_dir) / "config.json"
        saved = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
        dtype = str(saved.get("dtype") or saved.get("torch_dtype") or "float32")
    return dtype if dtype in TOLERANCE else "float32"


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors file's header (no tensor data is read)."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        names = set(json.loads(index.read_text())["weight_map"].values())
        return [model_dir / n for n in sorted(names)]
    return sorted(model_dir.glob("*.safetensors"))


def dir_size(path: str | Path) -> int:
    """Bytes of every file under ``path`` (a file's own size for a file)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def check_adapter(base: str, adapter: str) -> list[str]:
    """Raise :class:`ConfigError` when ``adapter`` cannot be merged into ``base``; returns warnings."""
    from lf.models import resolve_model
    from lf_trainer_sft.models import adapter_base, quantization_method

    adapter_dir = Path(adapter)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ConfigError(
            f"{adapter} is not a LoRA adapter directory (no adapter_config.json).",
            hint="Pass the output directory of an `lf train sft` run with method: lora.",
        )
    acfg = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if str(acfg.get("peft_type", "LORA")).upper() != "LORA":
        raise ConfigError(f"{adapter} holds a {acfg.get('peft_type')} adapter; only LoRA adapters can be merged.")
    base_dir = Path(resolve_model(base))
    if not (base_dir / "config.json").is_file():
        raise ConfigError(f"{base} is not a model directory (no config.json).", hint="Pass the base model directory.")
    method = quantization_method(str(base_dir))
    if method:
        raise ConfigError(
            f"{base} is already quantized ({method}); a LoRA adapter can only be merged into full-precision weights.",
            hint="Merge into the original (unquantized) base model, then quantize the merged model.",
        )
    if adapter_base(str(base_dir)) is not None:
        raise ConfigError(f"{base} is itself an adapter, not a base model.")
    warnings = []
    named = str(acfg.get("base_model_name_or_path") or "")
    same_name = named and Path(named).exists() and Path(named).resolve() == base_dir.resolve()
    if named and not same_name:
        warnings.append(f"the adapter was trained on '{named}', merging into '{base}' (shapes match)")
    _check_shapes(base_dir, adapter_dir, named)
    return warnings


def _check_shapes(base_dir: Path, adapter_dir: Path, named: str) -> None:
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"{adapter_dir} has no adapter_model.safetensors.")
    base_shapes: dict[str, list[int]] = {}
    for f in _weight_files(base_dir):
        base_shapes.update(_safetensors_shapes(f))
    if not base_shapes:
        raise ConfigError(f"{base_dir} holds no safetensors weights.")
    mismatches, matched = [], 0
    for key, shape in _safetensors_shapes(weights).items():
        if ".lora_A." not in key and ".lora_B." not in key:
            continue
        module = key.split(".lora_")[0].removeprefix("base_model.model.")
        target = _find_base_weight(base_shapes, module)
        if target is None:
            mismatches.append(f"{module} does not exist in the base")
            continue
        out_features, in_features = base_shapes[target][0], base_shapes[target][-1]
        ok = shape[-1] == in_features if ".lora_A." in key else shape[0] == out_features
        if not ok:
            mismatches.append(
                f"{module}: adapter {key.split('.lora_')[1]} {shape} vs base weight {base_shapes[target]}"
            )
        else:
            matched += 1
    if mismatches or not matched:
        detail = "; ".join(mismatches[:3]) or "no adapted layer found in the base"
        raise ConfigError(
            f"The adapter in {adapter_dir} does not fit {base_dir}"
            + (f" (it was trained on '{named}')" if named else "")
            + f": {detail}.",
            hint="Pass the base model the adapter was trained on (see base_model_name_or_path in adapter_config.json).",
        )


def _find_base_weight(shapes: dict[str, list[int]], module: str) -> str | None:
    for candidate in (f"{module}.weight", f"{module.split('.', 1)[-1]}.weight", f"model.{module}.weight"):
        if candidate in shapes:
            return candidate
    return None


def merge_lora(
    base: str,
    adapter: str,
    out: str,
    *,
    dtype: str = "auto",
    verify: bool = True,
    overwrite: bool = False,
    say: Callable[[str], None] | None = None,
) -> RunResult:
    """Merge ``adapter`` into ``base`` and write a plain model to ``out``; returns sizes and the check."""
    import torch

    from lf.atomic import atomic_directory
    from lf.models import resolve_model

    say = say or (lambda _text: None)
    for w in check_adapter(base, adapter):
        say(f"warning: {w}")
    out_dir = Path(out)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty.", hint="Choose another directory, or pass --overwrite.")
    base_dir = resolve_model(base)
    target = merge_dtype(base_dir, dtype)
    say(f"loading {base_dir} and the adapter")
    peft_model, tokenizer = _load_with_adapter(base_dir, adapter)
    inputs = _verify_inputs(tokenizer) if verify else None
    reference = _logits(peft_model, inputs) if inputs is not None else None
    merged = peft_model.merge_and_unload().to(getattr(torch, target))
    metrics: dict[str, float] = {}
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        _save_merged(merged, tokenizer, staging)
        if reference is not None and inputs is not None:
            say("checking the merged model's logits against base + adapter")
            metrics.update(_check_logits(staging, inputs, reference, target))
    return _report(base_dir, adapter, out_dir, target, metrics)


def _load_with_adapter(base_dir: str, adapter: str) -> tuple[Any, Any]:
    """Base (float32) with the adapter attached, in eval mode, and the adapter's (else the base's) tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from lf_trainer_sft.models import load_tokenizer, plain_config

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, **plain_config(base_dir))
    peft_model = PeftModel.from_pretrained(model, adapter)
    peft_model.eval()
    has_tok = (Path(adapter) / "tokenizer_config.json").is_file()
    return peft_model, load_tokenizer(adapter if has_tok else base_dir)


def _save_merged(merged: Any, tokenizer: Any, staging: Path) -> None:
    from lf_trainer_sft.models import generation_config

    merged.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    if tokenizer.chat_template:
        (staging / "chat_template.jinja").write_text(tokenizer.chat_template, encoding="utf-8")
    generation_config(merged, tokenizer).save_pretrained(staging)


def _check_logits(staging: Path, inputs: Any, reference: Any, target: str) -> dict[str, float]:
    """Reload the written model and compare its logits with base + adapter; refuse a merge out of tolerance."""
    import torch
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(staging, dtype=torch.float32).eval()
    got = _logits(reloaded, inputs)
    diff = float((got - reference).abs().max())
    scale = float(reference.abs().max()) or 1.0
    agree = float((got.argmax(-1) == reference.argmax(-1)).float().mean())
    if diff / scale > TOLERANCE[target]:
        raise RunError(
            f"The merged model's logits differ from base + adapter by {diff:.4g} "
            f"({diff / scale:.2e} relative, tolerance {TOLERANCE[target]:.0e} for {target}); "
            "nothing was written.",
            hint="Merge into float32 (--dtype float32), or check that the base matches the adapter.",
        )
    return {"max_logit_diff": diff, "relative_logit_diff": diff / scale, "top1_agreement": agree}


def _report(base_dir: str, adapter: str, out_dir: Path, target: str, metrics: dict[str, float]) -> RunResult:
    size_base, size_after = dir_size(base_dir), dir_size(out_dir)
    size_adapter = sum(dir_size(f) for f in Path(adapter).glob("adapter_*"))
    metrics.update(base_bytes=size_base, adapter_bytes=size_adapter, merged_bytes=size_after)
    summary = (
        f"merged {adapter} into {base_dir} as {target}: base {size_base / 2**20:.1f} MiB + adapter "
        f"{size_adapter / 2**20:.1f} MiB -> {size_after / 2**20:.1f} MiB"
    )
    if "relative_logit_diff" in metrics:
        summary += f"; logits match (max diff {metrics['max_logit_diff']:.2e})"
    return RunResult(output_dir=str(out_dir), metrics=metrics, artifacts={"model": str(out_dir)}, summary=summary)


def _verify_inputs(tokenizer: Any) -> Any:
    texts = []
    for prompt in VERIFY_PROMPTS:
        try:
            texts.append(
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
                )
            )
        except Exception:
            texts.append(prompt)
    tokenizer.padding_side = "right"
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def _logits(model: Any, inputs: Any) -> Any:
    import torch

    with torch.no_grad():
        logits = model(**inputs).logits.float()
    mask = inputs["attention_mask"].bool()
    return logits[mask]
