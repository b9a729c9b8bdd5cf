"""A small BERT encoder in plain torch, loaded from a sentence-transformers directory.

all-MiniLM-L6-v2 is a 6-layer BERT. Running it through this module instead of
``transformers.BertModel`` saves the transformers import (seconds) and most of the
per-call Python overhead (masks, dispatch), which dominates a single short query; and it
lets :class:`lf_router_hybrid.neural.NeuralClassifier` fine-tune only the top layers on
cached activations of the frozen lower ones. Output equals ``BertModel``'s (a test checks).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, inter: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.up = nn.Linear(hidden, inter)
        self.down = nn.Linear(inter, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = self.ln1(x + self.out(a.transpose(1, 2).reshape(b, t, d)))
        return self.ln2(x + self.down(F.gelu(self.up(x))))


class BertEncoder(nn.Module):
    """BERT: embeddings, ``n`` transformer layers, mean pooling and L2 normalization."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        hidden = int(config["hidden_size"])
        eps = float(config.get("layer_norm_eps", 1e-12))
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported activation {config.get('hidden_act')!r} (BERT uses gelu)")
        self.hidden = hidden
        self.word = nn.Embedding(int(config["vocab_size"]), hidden)
        self.position = nn.Embedding(int(config["max_position_embeddings"]), hidden)
        self.token_type = nn.Embedding(int(config.get("type_vocab_size", 2)), hidden)
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(hidden, int(config["num_attention_heads"]), int(config["intermediate_size"]), eps)
            for _ in range(int(config["num_hidden_layers"]))
        )

    @classmethod
    def from_directory(cls, path: str | Path) -> BertEncoder:
        """Load ``config.json`` + ``model.safetensors`` (HF BERT weight names, with or without ``bert.``)."""
        from safetensors.torch import load_file

        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        if config.get("model_type", "bert") != "bert":
            raise ValueError(f"{path} holds a {config.get('model_type')!r} model; only BERT encoders are supported")
        model = cls(config)
        weights = load_file(str(path / "model.safetensors"))
        weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        model.load_state_dict(_convert(weights, len(model.layers)))
        return model.eval()

    def bottom(self, ids: torch.Tensor, mask: torch.Tensor, upto: int) -> torch.Tensor:
        """Hidden states after the embeddings and the first ``upto`` layers."""
        t = ids.shape[1]
        x = self.word(ids) + self.position.weight[:t] + self.token_type.weight[0]
        x = self.ln(x)
        return self.top(x, mask, 0, upto, pool=False)

    def top(
        self, x: torch.Tensor, mask: torch.Tensor, start: int, end: int | None = None, *, pool: bool = True
    ) -> torch.Tensor:
        """Run layers ``start:end`` on hidden states ``x``; with ``pool``, the normalized sentence vectors."""
        attn = None if bool(mask.all()) else mask[:, None, None, :].bool()
        for layer in self.layers[start:end]:
            x = layer(x, attn)
        if not pool:
            return x
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unit sentence vectors for token ids ``(batch, time)`` with a 0/1 ``mask``."""
        return self.top(self.bottom(ids, mask, 0), mask, 0)


def _convert(w: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """HF BERT names -> ours (q, k and v fused into one matrix)."""
    out = {
        "word.weight": w["embeddings.word_embeddings.weight"],
        "position.weight": w["embeddings.position_embeddings.weight"],
        "token_type.weight": w["embeddings.token_type_embeddings.weight"],
        "ln.weight": w["embeddings.LayerNorm.weight"],
        "ln.bias": w["embeddings.LayerNorm.bias"],
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        for kind in ("weight", "bias"):
            out[f"layers.{i}.qkv.{kind}"] = torch.cat(
                [w[f"{att}query.{kind}"], w[f"{att}key.{kind}"], w[f"{att}value.{kind}"]]
            )
            out[f"layers.{i}.out.{kind}"] = w[f"{p}attention.output.dense.{kind}"]
            out[f"layers.{i}.ln1.{kind}"] = w[f"{p}attention.output.LayerNorm.{kind}"]
            out[f"layers.{i}.up.{kind}"] = w[f"{p}intermediate.dense.{kind}"]
            out[f"layers.{i}.down.{kind}"] = w[f"{p}output.dense.{kind}"]
            out[f"layers.{i}.ln2.{kind}"] = w[f"{p}output.LayerNorm.{kind}"]
    return out


def scale_for(dim: int) -> float:
    """Temperature of a cosine classifier head (logits = scale x cosine)."""
    return 16.0 * math.sqrt(dim / 384)
