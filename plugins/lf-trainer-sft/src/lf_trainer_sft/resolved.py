"""What the ``auto`` and ``null`` options of a training run became.

Options such as ``dtype: auto``, ``attn_implementation: null``, ``learning_rate: null``,
``lora.r: null`` or ``resume: auto`` leave the choice to lf, the libraries or the machine.
Once the model is loaded and the trainer built - before the first step - the run records
what was chosen: printed once, written into ``lf_run.json`` and ``lf_output.json``
(``resolved``), and the TrainResult's ``run_config`` artifact points at it.
"""

from __future__ import annotations

from typing import Any

#: Options whose configured value means "choose for me", and that value.
AUTO_VALUES: dict[str, Any] = {
    "dtype": "auto",
    "merge_dtype": "auto",
    "resume": "auto",
    "attn_implementation": None,
    "learning_rate": None,
    "lora.r": None,
    "lora.alpha": None,
    "lora.target_modules": None,
    "eval_steps": None,
    "chat_template": None,
    "ref_model": None,
}


def resolve_settings(job: Any, trainer: Any, resume_from: str | None) -> dict[str, Any]:
    """Every setting lf or a library chose, keyed by option (plus ``device``, ``mixed_precision``, ...)."""
    c = job.config
    args = trainer.args
    model = trainer.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    param = next(iter(base.parameters()), None)
    out: dict[str, Any] = {
        "model": job.model_path,
        "device": str(args.device),
        "world_size": job.world_size,
        "dtype": str(param.dtype).removeprefix("torch.") if param is not None else c.dtype,
        "mixed_precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "no",
        "attn_implementation": getattr(base.config, "_attn_implementation", None) or "default",
        "learning_rate": job.learning_rate(),
        "resume": resume_from or "none (a fresh start)",
    }
    if job.has_eval:
        out["eval_steps"] = args.eval_steps
    peft = getattr(model, "peft_config", None)
    if c.method == "lora" and peft:
        lora = next(iter(peft.values()))
        targets = lora.target_modules
        out["lora.r"], out["lora.alpha"] = lora.r, lora.lora_alpha
        out["lora.target_modules"] = sorted(targets) if isinstance(targets, (set, list)) else targets
        if c.merge:
            from lf_trainer_sft.merge import merge_dtype

            out["merge_dtype"] = merge_dtype(job.model_path, c.merge_dtype)
    out.update(job._resolved_extra())
    return out


def describe(config: Any, resolved: dict[str, Any]) -> str:
    """One line: ``device cpu; dtype auto -> float32; learning_rate -> 0.0002; ...`` (only what was left open)."""
    parts = [f"device {resolved['device']}"]
    if resolved.get("mixed_precision", "no") != "no":
        parts.append(f"mixed precision {resolved['mixed_precision']}")
    for key, auto in AUTO_VALUES.items():
        if key not in resolved or _option(config, key, _Absent) != auto:
            continue
        value = resolved[key]
        shown = ",".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key} {auto} -> {shown}" if auto is not None else f"{key} -> {shown}")
    return "settings chosen for this run: " + "; ".join(parts)


class _Absent:
    """Marks an option this trainer's config does not have."""


def _option(config: Any, dotted: str, default: Any) -> Any:
    node = config
    for part in dotted.split("."):
        node = getattr(node, part, default)
        if node is default:
            return default
    return node
