"""Loading and adapting models: tokenizers, dtypes, LoRA, QLoRA.

Model references a user can give: whatever :func:`lf.models.resolve_model` accepts (a
local directory, a hub id, the shorthands ``tiny``, ``tiny-teacher``, ``smollm2``), and an
lf output directory holding a LoRA adapter (``adapter_config.json``: its base is loaded
and the adapter merged in memory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lf.errors import ConfigError, ModelNotFoundError
from lf.models import SHORTHANDS as SHORTHANDS  # re-exported for older imports (lf-generate)
from lf.models import TINY_MODELS as TINY_MODELS
from lf.models import resolve_model as resolve_model
from lf.models import tiny_model_path as tiny_model_path

#: LoRA target modules by ``config.model_type``.
LORA_TARGETS: dict[str, list[str]] = {
    **{
        t: ["q_proj", "k_proj", "v_proj", "o_proj"]
        for t in (
            "llama",
            "mistral",
            "mixtral",
            "qwen2",
            "qwen2_moe",
            "qwen3",
            "qwen3_moe",
            "gemma",
            "gemma2",
            "gemma3_text",
            "olmo",
            "olmo2",
            "smollm3",
            "granite",
            "starcoder2",
            "cohere",
        )
    },
    "phi3": ["qkv_proj", "o_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense"],
    "gpt2": ["c_attn", "c_proj"],
    "gpt_bigcode": ["c_attn", "c_proj"],
    "falcon": ["query_key_value", "dense"],
    "gpt_neox": ["query_key_value", "dense"],
    "bloom": ["query_key_value", "dense"],
    "gptj": ["q_proj", "k_proj", "v_proj", "out_proj"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj"],
}

#: Known quantization methods of an already-quantized checkpoint (config.json quantization_config).
QUANTIZED_METHODS = ("bitsandbytes", "gptq", "awq", "compressed-tensors", "fp8", "hqq", "aqlm", "eetq", "quanto")


def adapter_base(path: str) -> str | None:
    """The base model named by a LoRA adapter directory, or None when ``path`` is not an adapter."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    data = json.loads(cfg.read_text(encoding="utf-8"))
    base = data.get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"{cfg} names no base_model_name_or_path; cannot tell which model the adapter belongs to.")
    return str(base)


def quantization_method(path: str) -> str | None:
    """The quantization method of a checkpoint directory (None when its weights are plain)."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return None
    q = json.loads(cfg.read_text(encoding="utf-8")).get("quantization_config") or {}
    method = str(q.get("quant_method") or ("bitsandbytes" if q.get("load_in_4bit") or q.get("load_in_8bit") else ""))
    # a GGUF-converted directory (lf models fetch) holds de-quantized float weights
    return method if method and method != "gguf" else None


def torch_dtype(name: str, *, for_training: bool = True) -> Any:
    """The torch dtype for a config value (``auto``: bf16 on a capable GPU, else float32)."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(path: str, chat_template: str | None = None) -> Any:
    """The tokenizer of ``path`` with a pad token and a chat template (the override, its own, or ChatML)."""
    from transformers import AutoTokenizer

    from lf_trainer_sft.chat import FALLBACK_CHAT_TEMPLATE

    try:
        tok = AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise ModelNotFoundError(
            f"Cannot load a tokenizer from {path}: {exc}",
            hint="Point model at a Hugging Face model directory (config.json + tokenizer files).",
        ) from exc
    if chat_template:
        p = Path(chat_template)
        tok.chat_template = p.read_text(encoding="utf-8") if p.suffix == ".jinja" and p.is_file() else chat_template
    elif not getattr(tok, "chat_template", None):
        tok.chat_template = FALLBACK_CHAT_TEMPLATE
        if "<|im_end|>" not in tok.get_vocab():
            # ChatML markers: reuse the tokenizer's EOS as the end of a turn when it has no <|im_end|>
            tok.chat_template = FALLBACK_CHAT_TEMPLATE.replace("<|im_end|>", tok.eos_token or "</s>")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    path: str,
    *,
    dtype: str = "auto",
    quantization: str = "none",
    attn_implementation: str | None = None,
    device_map: Any = None,
) -> Any:
    """A causal LM from ``path``; an adapter directory loads its base with the adapter merged in."""
    from transformers import AutoModelForCausalLM

    base = adapter_base(path)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantization != "none":
        import torch
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=quantization == "4bit",
            load_in_8bit=quantization == "8bit",
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
        )
        kwargs["device_map"] = device_map or {"": int(os.environ.get("LOCAL_RANK", "0"))}
    elif device_map is not None:
        kwargs["device_map"] = device_map
    if base is not None:
        from peft import PeftModel

        base_path = resolve_model(base)
        model = AutoModelForCausalLM.from_pretrained(base_path, **plain_config(base_path), **kwargs)
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
        return model
    return AutoModelForCausalLM.from_pretrained(path, **plain_config(path), **kwargs)


def plain_config(path: str) -> dict[str, Any]:
    """``{"config": ...}`` without a stale GGUF ``quantization_config`` (its weights are de-quantized floats).

    ``lf models fetch`` converts SmolLM2 from GGUF; its config.json still names GGUF, which would make
    transformers treat the float weights as quantized (and refuse to train them).
    """
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return {}
    q = json.loads(cfg.read_text(encoding="utf-8")).get("quantization_config") or {}
    if q.get("quant_method") != "gguf":
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    return {"config": config}


def count_parameters(model: Any) -> int:
    """All parameters of a model (adapters excluded when it is a PEFT model)."""
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)


def recommended_lora(num_params: int) -> tuple[int, int]:
    """``(r, alpha)`` by model size: <3B: (8, 16); 3-13B: (16, 32); larger: (32, 64)."""
    if num_params < 3e9:
        return 8, 16
    if num_params <= 13e9:
        return 16, 32
    return 32, 64


def lora_targets(model: Any) -> list[str] | str:
    """Default LoRA target modules for the model's architecture (``all-linear`` when unknown)."""
    model_type = getattr(model.config, "model_type", "")
    if model_type in LORA_TARGETS:
        return LORA_TARGETS[model_type]
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for candidates in (["q_proj", "k_proj", "v_proj", "o_proj"], ["query_key_value", "dense"], ["c_attn", "c_proj"]):
        if set(candidates) <= names:
            return candidates
    return "all-linear"


def peft_config(options: Any, model: Any) -> Any:
    """A ``peft.LoraConfig`` from :class:`~lf_trainer_sft.config.LoraOptions` and the model."""
    from peft import LoraConfig

    default_r, _ = recommended_lora(count_parameters(model))
    r = options.r or default_r
    alpha = options.alpha or 2 * r
    targets = options.target_modules or lora_targets(model)
    if isinstance(targets, list) and targets == ["all-linear"]:
        targets = "all-linear"
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=options.dropout,
        target_modules=targets,
        bias=options.bias,
        modules_to_save=options.modules_to_save,
        task_type="CAUSAL_LM",
    )


def save_with_tokenizer(model: Any, tokenizer: Any, out: str | Path) -> None:
    """Save model (or adapter), tokenizer, chat template and generation config into ``out``."""
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    template = getattr(tokenizer, "chat_template", None)
    if template and not (out / "chat_template.jinja").exists():
        (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    generation_config(model, tokenizer).save_pretrained(out)


def generation_config(model: Any, tokenizer: Any) -> Any:
    """The model's generation config with the end-of-turn token among its EOS ids (so replies stop).

    The end-of-turn token is the one the chat template closes replies with (``<end_of_turn>``,
    ``<|eot_id|>``...), whichever family it is.
    """
    import copy

    from transformers import GenerationConfig

    from lf.chat_template import end_of_turn_token

    base = getattr(model, "generation_config", None)
    gen = copy.deepcopy(base) if base is not None else GenerationConfig()
    eos = gen.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    for token in (tokenizer.eos_token, end_of_turn_token(tokenizer), "<|im_end|>", "<|eot_id|>", "<|end|>"):
        tid = tokenizer.convert_tokens_to_ids(token) if token and token in tokenizer.get_vocab() else None
        if tid is not None and tid not in ids:
            ids.append(tid)
    gen.eos_token_id = ids[0] if len(ids) == 1 else ids
    if gen.pad_token_id is None and tokenizer.pad_token_id is not None:
        gen.pad_token_id = tokenizer.pad_token_id
    return gen
