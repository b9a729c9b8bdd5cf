"""What each supported architecture looks like in GGUF: its name, hyper-parameter keys, tensor names and layouts.

llama.cpp names tensors ``token_embd``, ``blk.N.attn_q``, ``output_norm``...; the table below maps
the Hugging Face names of the five supported families onto them (a test checks it against the
``gguf`` package's own mapping, which transformers' GGUF loader reads back with). Two layouts
differ from Hugging Face's:

* the ``llama`` architecture (Llama, Mistral, SmolLM2) applies rotary embeddings to adjacent
  pairs of dimensions, Hugging Face to the two halves of each head: the rows of ``q_proj`` and
  ``k_proj`` are reordered within each head (:func:`interleave_rotary`);
* Gemma's RMSNorm multiplies by ``1 + weight``, llama.cpp's by ``weight``: norm weights get +1.

Qwen2, Phi-3 and Gemma-2 rotate halves (llama.cpp's NEOX mode) and need no reordering; Phi-3
keeps its fused ``qkv_proj`` and ``gate_up_proj`` (``attn_qkv``, ``ffn_up``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from lf.errors import ConfigError

#: Hugging Face ``model_type`` -> llama.cpp architecture.
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gemma2": "gemma2", "phi3": "phi3"}

_GLOBAL = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.qkv_proj": "attn_qkv",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "mlp.gate_up_proj": "ffn_up",
}
# Gemma-2 normalises around both blocks: four norms per layer.
_GEMMA2_LAYER = {
    **_LAYER,
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}
_LAYER_NAME = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")
SKIPPED = (".rotary_emb.inv_freq",)


@dataclass(frozen=True)
class Hparams:
    """The hyper-parameters the GGUF keys need, read from a Hugging Face config."""

    model_type: str
    arch: str
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int
    rms_eps: float
    rope_theta: float
    vocab_size: int
    tied: bool
    config: Any
    rope_kind: str = "default"


def _rope(config: Any) -> tuple[float, str]:
    params = getattr(config, "rope_parameters", None) or {}
    theta = params.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    kind = params.get("rope_type") or (getattr(config, "rope_scaling", None) or {}).get("rope_type") or "default"
    return float(theta), str(kind)


def read_hparams(config: Any) -> Hparams:
    """The :class:`Hparams` of a transformers config; unsupported architectures and RoPE scalings are refused."""
    model_type = str(config.model_type)
    if model_type not in ARCHITECTURES:
        raise ConfigError(
            f"lf export gguf does not know the architecture {model_type!r}.",
            hint=f"Supported: {', '.join(sorted(ARCHITECTURES))} (Llama/SmolLM2, Mistral, Qwen2, Gemma-2, Phi-3).",
        )
    theta, rope_kind = _rope(config)
    if rope_kind != "default" and not (rope_kind == "llama3" and ARCHITECTURES[model_type] == "llama"):
        raise ConfigError(
            f"This {model_type} model uses RoPE scaling {rope_kind!r}, which lf export gguf does not write yet.",
            hint="Models with the default RoPE export (Llama-3, Mistral, Qwen2.5, Gemma-2, Phi-3 4k), and Llama-3.1's.",
        )
    heads = int(config.num_attention_heads)
    hidden = int(config.hidden_size)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    hp = Hparams(
        model_type=model_type,
        arch=ARCHITECTURES[model_type],
        layers=int(config.num_hidden_layers),
        hidden=hidden,
        ffn=int(config.intermediate_size),
        heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        head_dim=head_dim,
        context=int(config.max_position_embeddings),
        rms_eps=float(config.rms_norm_eps),
        rope_theta=theta,
        vocab_size=int(config.vocab_size),
        tied=bool(getattr(config, "tie_word_embeddings", False)),
        config=config,
        rope_kind=rope_kind,
    )
    _check_supported(hp)
    return hp


def _check_supported(hp: Hparams) -> None:
    config = hp.config
    if hp.model_type == "gemma2" and int(config.query_pre_attn_scalar) != hp.head_dim:
        raise ConfigError(
            f"This Gemma-2 scales queries by 1/sqrt({config.query_pre_attn_scalar}); llama.cpp uses 1/sqrt(head_dim) "
            f"= 1/sqrt({hp.head_dim}) for it, so the exported model would not compute the same thing.",
        )
    if hp.model_type == "phi3" and getattr(config, "partial_rotary_factor", 1.0) not in (None, 1.0):
        raise ConfigError("Phi-3 models with a partial rotary factor are not supported by lf export gguf yet.")


def write_hparams(writer: Any, hp: Hparams) -> None:
    """Add the ``ARCH.*`` keys of a ``gguf.GGUFWriter``."""
    writer.add_context_length(hp.context)
    writer.add_embedding_length(hp.hidden)
    writer.add_block_count(hp.layers)
    writer.add_feed_forward_length(hp.ffn)
    writer.add_head_count(hp.heads)
    writer.add_head_count_kv(hp.kv_heads)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_rope_freq_base(hp.rope_theta)
    writer.add_vocab_size(hp.vocab_size)
    if hp.arch in ("llama", "phi3"):
        writer.add_rope_dimension_count(hp.head_dim)
    if hp.head_dim != hp.hidden // hp.heads or hp.arch == "gemma2":
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    window = getattr(hp.config, "sliding_window", None)
    if window and hp.arch in ("gemma2", "phi3"):
        writer.add_sliding_window(int(window))
    if hp.arch == "gemma2":
        writer.add_attn_logit_softcapping(float(hp.config.attn_logit_softcapping or 0.0))
        writer.add_final_logit_softcapping(float(hp.config.final_logit_softcapping or 0.0))


def extra_tensors(hp: Hparams) -> dict[str, np.ndarray]:
    """Tensors llama.cpp needs that a Hugging Face checkpoint computes instead of storing.

    Llama-3.1's RoPE scaling (``rope_type: llama3``) stretches the low rotary frequencies;
    llama.cpp reads it as ``rope_freqs.weight``, one divisor per frequency: the default
    inverse frequency over the scaled one, both as transformers computes them.
    """
    if hp.rope_kind != "llama3":
        return {}
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](hp.config, torch.device("cpu"))
    dims = torch.arange(0, hp.head_dim, 2, dtype=torch.int64).to(torch.float32) / hp.head_dim
    default = 1.0 / (hp.rope_theta**dims)
    return {"rope_freqs.weight": (default / scaled).to(torch.float32).numpy()}


def gguf_name(hf_name: str, hp: Hparams) -> str | None:
    """The GGUF name of a Hugging Face tensor; None for tensors GGUF does not keep (tied head, rotary caches)."""
    if hf_name.endswith(SKIPPED) or (hf_name == "lm_head.weight" and hp.tied):
        return None
    if hf_name in _GLOBAL:
        return _GLOBAL[hf_name]
    match = _LAYER_NAME.match(hf_name)
    table = _GEMMA2_LAYER if hp.arch == "gemma2" else _LAYER
    if match and match.group(2) in table:
        return f"blk.{match.group(1)}.{table[match.group(2)]}.{match.group(3)}"
    raise ConfigError(f"The tensor {hf_name!r} has no GGUF name in the {hp.arch} architecture.")


def interleave_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a q/k projection reordered per head from halves (Hugging Face) to adjacent pairs (llama.cpp).

    Within a head of ``d`` rows, row ``i`` of the first half goes to ``2i`` and row ``i`` of the
    second half to ``2i + 1``.
    """
    rest = weight.shape[1:]
    per_head = weight.shape[0] // heads
    halves = weight.reshape(heads, 2, per_head // 2, *rest)
    return np.ascontiguousarray(halves.swapaxes(1, 2).reshape(weight.shape))


def to_gguf_layout(name: str, data: np.ndarray, hp: Hparams) -> np.ndarray:
    """A float32 tensor as llama.cpp expects it under ``name`` (a GGUF name)."""
    if hp.arch == "llama" and name.endswith(("attn_q.weight", "attn_q.bias")):
        return interleave_rotary(data, hp.heads)
    if hp.arch == "llama" and name.endswith(("attn_k.weight", "attn_k.bias")):
        return interleave_rotary(data, hp.kv_heads)
    if hp.arch == "gemma2" and name.endswith("norm.weight"):
        return data + 1.0
    return data
