"""A model's shape: from a Hugging Face ``config.json``, a known name, or a size in billions.

The shape gives exact parameter counts (embeddings vs. linear layers, dense vs. MoE active),
the KV cache per token (``2 * layers * kv_heads * head_dim * bytes``: grouped-query attention
is what makes Llama-2-70B need 8/64 of the cache its head count suggests) and the per-layer
activation sizes the training memory needs. A bare size in billions borrows the shape of the
nearest modern (GQA, SwiGLU) model and scales its depth to the requested size; the plan says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lf.errors import ConfigError


@dataclass(frozen=True)
class ModelArch:
    """A decoder-only transformer (dense or mixture-of-experts)."""

    name: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = False
    gated_mlp: bool = True
    n_experts: int = 1
    experts_per_token: int = 1
    shared_intermediate: int = 0
    max_position: int = 0
    source: str = ""
    #: When the user gave a size, weights and FLOPs use it; the shape gives the split and the KV cache.
    declared_params: float | None = None

    # -- dimensions --------------------------------------------------------------------------

    @property
    def q_dim(self) -> int:
        """Width of the query projection (heads x head_dim)."""
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (or value) projection (KV heads x head_dim)."""
        return self.n_kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        """True for mixture-of-experts models."""
        return self.n_experts > 1

    # -- parameter counts --------------------------------------------------------------------

    def attention_params(self) -> int:
        """Q, K, V and output projections of one layer."""
        h = self.hidden
        return h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h

    def expert_params(self) -> int:
        """One MLP (or one expert)."""
        return (3 if self.gated_mlp else 2) * self.hidden * self.intermediate

    def mlp_params(self, active: bool = False) -> int:
        """The MLP block of one layer: all experts, or only those a token uses."""
        experts = self.experts_per_token if active else self.n_experts
        shared = (3 if self.gated_mlp else 2) * self.hidden * self.shared_intermediate
        router = self.hidden * self.n_experts if self.is_moe else 0
        return experts * self.expert_params() + shared + router

    def layer_params(self, active: bool = False) -> int:
        """One transformer layer (attention + MLP + two norms)."""
        return self.attention_params() + self.mlp_params(active) + 2 * self.hidden

    def embedding_params(self) -> int:
        """Input embeddings plus an untied output head."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def shape_params(self) -> int:
        """Total parameters implied by the shape."""
        return self.n_layers * self.layer_params() + self.embedding_params() + self.hidden

    def _scale(self) -> float:
        return self.declared_params / self.shape_params() if self.declared_params else 1.0

    def total_params(self) -> float:
        """Total parameters (the declared size when one was given)."""
        return self.declared_params or float(self.shape_params())

    def linear_params(self) -> float:
        """Parameters in transformer-layer linear weights (what 4/8-bit quantizers compress)."""
        linear = self.n_layers * (self.attention_params() + self.mlp_params())
        return linear * self._scale()

    def active_params(self) -> float:
        """Parameters a token passes through (MoE: only its experts)."""
        active = self.n_layers * self.layer_params(active=True) + self.embedding_params() + self.hidden
        return active * self._scale()

    def matmul_params(self) -> float:
        """Parameters used in matrix multiplies per token (active layers + output head; no lookup)."""
        head = self.vocab * self.hidden
        return (self.n_layers * self.layer_params(active=True) + head) * self._scale()

    # -- caches ------------------------------------------------------------------------------

    def kv_bytes_per_token(self, bytes_per_value: float) -> float:
        """KV cache per token: 2 (K and V) x layers x KV heads x head_dim x bytes."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * bytes_per_value

    def describe(self) -> str:
        """One line: layers, width, heads, KV heads, vocab (and experts)."""
        moe = f", {self.n_experts} experts (top-{self.experts_per_token})" if self.is_moe else ""
        return (
            f"{self.n_layers} layers, hidden {self.hidden}, {self.n_heads} heads / {self.n_kv_heads} KV heads x "
            f"{self.head_dim}, MLP {self.intermediate}{' (gated)' if self.gated_mlp else ''}, vocab {self.vocab}{moe}"
        )


def _llama(name: str, layers: int, hidden: int, heads: int, kv: int, inter: int, vocab: int, **kw: Any) -> ModelArch:
    head_dim = kw.pop("head_dim", hidden // heads)
    return ModelArch(name, layers, hidden, heads, kv, head_dim, inter, vocab, source=f"known architecture {name}", **kw)


#: Shapes of well-known models, from their public Hugging Face config.json files.
KNOWN: dict[str, ModelArch] = {
    a.name: a
    for a in (
        _llama("smollm2-135m", 30, 576, 9, 3, 1536, 49152, head_dim=64, tied_embeddings=True),
        _llama("qwen2.5-0.5b", 24, 896, 14, 2, 4864, 151936, tied_embeddings=True),
        _llama("llama-3.2-1b", 16, 2048, 32, 8, 8192, 128256, head_dim=64, tied_embeddings=True),
        _llama("llama-3.2-3b", 28, 3072, 24, 8, 8192, 128256, head_dim=128, tied_embeddings=True),
        _llama("llama-7b", 32, 4096, 32, 32, 11008, 32000),
        _llama("llama-65b", 80, 8192, 64, 64, 22016, 32000),
        _llama("llama-2-7b", 32, 4096, 32, 32, 11008, 32000),
        _llama("llama-2-13b", 40, 5120, 40, 40, 13824, 32000),
        _llama("llama-2-70b", 80, 8192, 64, 8, 28672, 32000),
        _llama("llama-3.1-8b", 32, 4096, 32, 8, 14336, 128256),
        _llama("llama-3.1-70b", 80, 8192, 64, 8, 28672, 128256),
        _llama("llama-3.1-405b", 126, 16384, 128, 8, 53248, 128256),
        _llama("mistral-7b", 32, 4096, 32, 8, 14336, 32000),
        _llama("mixtral-8x7b", 32, 4096, 32, 8, 14336, 32000, n_experts=8, experts_per_token=2),
        _llama("qwen2.5-7b", 28, 3584, 28, 4, 18944, 152064),
        _llama("qwen2.5-14b", 48, 5120, 40, 8, 13824, 152064),
        _llama("qwen2.5-32b", 64, 5120, 40, 8, 27648, 152064),
        _llama("qwen2.5-72b", 80, 8192, 64, 8, 29568, 152064),
        _llama("gpt-j-6b", 28, 4096, 16, 16, 16384, 50400, head_dim=256, gated_mlp=False),
        _llama("mpt-7b", 32, 4096, 32, 32, 16384, 50432, gated_mlp=False, tied_embeddings=True),
        _llama("bloom-7b1", 30, 4096, 32, 32, 16384, 250880, gated_mlp=False, tied_embeddings=True),
    )
}
KNOWN["llama-3-8b"] = replace(KNOWN["llama-3.1-8b"], name="llama-3-8b", source="known architecture llama-3-8b")
KNOWN["llama-3-70b"] = replace(KNOWN["llama-3.1-70b"], name="llama-3-70b", source="known architecture llama-3-70b")

#: Modern (GQA + SwiGLU) shapes used to estimate a model given only its size.
_TEMPLATES = ("smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "qwen2.5-14b",
              "qwen2.5-32b", "llama-3.1-70b", "llama-3.1-405b")  # fmt: skip


def from_size(billions: float) -> ModelArch:
    """Estimate a shape for a dense model of ``billions`` parameters (nearest modern template, depth scaled)."""
    target = billions * 1e9
    template = min((KNOWN[n] for n in _TEMPLATES), key=lambda a: abs(math.log(a.shape_params() / target)))
    per_layer = template.layer_params()
    fixed = template.embedding_params() + template.hidden
    layers = max(1, round((target - fixed) / per_layer)) if target > fixed else 1
    return replace(
        template,
        name=f"{billions:g}B ({template.name}-like)",
        n_layers=layers,
        declared_params=target,
        source=(
            f"estimated: {billions:g}B parameters with the shape of {template.name} "
            f"({template.hidden} hidden, {template.n_heads} heads / {template.n_kv_heads} KV heads), "
            f"{layers} layers; give --model PATH (config.json) for the exact KV cache"
        ),
    )


def from_name(name: str) -> ModelArch:
    """A known architecture by name (``lf plan models`` lists them)."""
    key = name.strip().lower()
    if key not in KNOWN:
        import difflib

        close = difflib.get_close_matches(key, list(KNOWN), n=1)
        raise ConfigError(
            f"Unknown model architecture '{name}'.",
            hint=(f"Did you mean '{close[0]}'? " if close else "")
            + "Known: "
            + ", ".join(sorted(KNOWN))
            + ". Or pass a model directory / config.json.",
        )
    return KNOWN[key]


def from_path(path: str | Path) -> ModelArch:
    """Read a Hugging Face ``config.json`` (or a directory holding one)."""
    p = Path(path)
    file = p / "config.json" if p.is_dir() else p
    if not file.is_file():
        raise ConfigError(
            f"No config.json at {path}.",
            hint="Pass a Hugging Face model directory (with config.json), the config.json itself, "
            "or a known name such as llama-3.1-8b (see `lf plan models`).",
        )
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read {file}: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{file}: expected a JSON object")
    return from_hf_config(config, source=str(file))


def _first(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = config.get(key)
        if value is not None:
            return value
    return default


#: Model types whose MLP is a plain two-matrix GELU MLP (everything else with silu is gated).
_PLAIN_MLP = {"gpt2", "gptj", "gpt_neox", "gpt_bigcode", "opt", "bloom", "falcon", "mpt", "phi", "starcoder2"}


def from_hf_config(config: dict[str, Any], source: str = "config.json") -> ModelArch:
    """Build the shape from a Hugging Face config mapping (text_config of multimodal models too)."""
    if isinstance(config.get("text_config"), dict):
        config = {**config["text_config"], "model_type": config["text_config"].get("model_type", "")}
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    hidden = _first(config, "hidden_size", "n_embd", "d_model", "dim")
    heads = _first(config, "num_attention_heads", "n_head", "num_heads", "n_heads")
    if not (layers and hidden and heads):
        raise ConfigError(
            f"{source}: cannot find the number of layers, hidden size and attention heads.",
            hint="Expected num_hidden_layers, hidden_size and num_attention_heads (Hugging Face names).",
        )
    model_type = str(config.get("model_type", "")).lower()
    kv = _first(config, "num_key_value_heads", "n_head_kv", "num_kv_heads")
    if kv is None:
        kv = 1 if config.get("multi_query") else heads
    head_dim = _first(config, "head_dim") or hidden // heads
    act = str(_first(config, "hidden_act", "activation_function", "hidden_activation", default="")).lower()
    gated = model_type not in _PLAIN_MLP and ("silu" in act or "swi" in act or "gelu_pytorch_tanh" in act or not act)
    inter = _first(config, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size")
    if inter is None:
        inter = 4 * hidden if not gated else int(8 * hidden / 3)
    experts = int(_first(config, "num_local_experts", "num_experts", "n_routed_experts", default=1) or 1)
    top_k = int(_first(config, "num_experts_per_tok", "moe_top_k", default=1) or 1)
    moe_inter = _first(config, "moe_intermediate_size")
    shared = int(_first(config, "shared_expert_intermediate_size", default=0) or 0)
    if experts > 1 and moe_inter:
        inter = moe_inter
    name = str(_first(config, "_name_or_path", "name_or_path", default="") or model_type or "model")
    return ModelArch(
        name=name,
        n_layers=int(layers),
        hidden=int(hidden),
        n_heads=int(heads),
        n_kv_heads=int(kv),
        head_dim=int(head_dim),
        intermediate=int(inter),
        vocab=int(_first(config, "vocab_size", "padded_vocab_size", default=32000)),
        tied_embeddings=bool(config.get("tie_word_embeddings", model_type in ("bloom", "mpt", "gpt2"))),
        gated_mlp=gated,
        n_experts=experts,
        experts_per_token=min(top_k, experts),
        shared_intermediate=shared,
        max_position=int(_first(config, "max_position_embeddings", "n_positions", "max_seq_len", default=0) or 0),
        source=f"config.json: {source}",
    )


def resolve(model_size_billions: float | None, model_path: str | None) -> ModelArch:
    """The shape for a ModelConfig: a path or known name wins; a size alone is estimated.

    When both are given, the architecture comes from the path and the size must agree with it
    within 10 %, otherwise the user is told which one is off.
    """
    if model_path:
        p = Path(model_path)
        arch = from_path(p) if (p.exists() or p.suffix == ".json" or "/" in model_path) else from_name(model_path)
        if model_size_billions:
            have = arch.total_params() / 1e9
            if abs(have - model_size_billions) / have > 0.10:
                raise ConfigError(
                    f"model_size_billions={model_size_billions:g} disagrees with {model_path}, "
                    f"which has {have:.2f}B parameters.",
                    hint="Drop --model-size (the architecture gives it), or fix it.",
                )
        return arch
    if not model_size_billions:
        raise ConfigError(
            "The model is missing: give its size or its architecture.",
            hint="Use --model-size 70 (billions of parameters), or --model PATH (a model directory, its "
            "config.json, or a known name such as llama-3.1-70b).",
        )
    return from_size(model_size_billions)
