"""Ragged steps for Llama-family models on the CPU: running rows and new prompts in one forward.

transformers' forward takes a rectangle of tokens, so the padded engine prefills new
requests in a forward of their own (left-padded to the longest), which stalls every
running row, then merges caches. Here one forward takes every token of the step as a flat
list - one token per running row, then every token of each new prompt, no padding - and
the model's own weights and modules run on it: linears, norms and MLPs on all tokens at
once, attention per kind (the running rows together against their cached tokens, each new
prompt causally on its own). Keys and values go straight into the rows' slots of a
:class:`~lf_backend_hf.slots.SlotCache`. Prefilling while decoding then costs about what
the prefill alone costs: decoding a few rows is bound by reading the weights, which the
prefill reads anyway.

The same operations as transformers' modules, in the same order, with the same kernels
(SDPA with grouped KV heads, the model's own rotary embedding and scaling): the logits are
equal to the padded path's. :func:`ragged_model` builds one only for the architectures
listed in :data:`ARCHITECTURES` and only when a check on a few tokens at load gives
transformers' logits; anything else uses the padded path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F  # noqa: N812

from lf.logs import get_logger
from lf_backend_hf.slots import SlotCache

log = get_logger("lf.serve.hf")

ARCHITECTURES = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"}
"""Models whose decoder layers are Llama's (RMSNorm, rotary attention with grouped KV heads, SiLU MLP)."""

_NORMS = {"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm"}


class StepPlan:
    """Where each token of a ragged step belongs.

    Tokens ``0 .. decoding-1`` are the next tokens of rows ``0 .. decoding-1``; then come the
    prompts of new rows ``decoding, decoding+1, ...`` (``lengths``). ``lens`` are the running
    rows' cached tokens before the step.
    """

    def __init__(self, lens: list[int], lengths: list[int], device: torch.device) -> None:
        self.decoding = len(lens)
        self.prompts: list[tuple[int, int]] = []
        start = self.decoding
        for length in lengths:
            self.prompts.append((start, length))
            start += length
        rows = list(range(self.decoding))
        columns = list(lens)
        for row, length in enumerate(lengths, start=self.decoding):
            rows += [row] * length
            columns += range(length)
        self.rows = len(lens) + len(lengths)
        self.positions = torch.tensor(columns, dtype=torch.long, device=device)
        self.where = (torch.tensor(rows, dtype=torch.long, device=device), self.positions)
        self.last = torch.tensor([*range(self.decoding), *(s + n - 1 for s, n in self.prompts)], device=device)
        self.width = max(lens, default=0) + 1
        self.longest = max([self.width, *lengths])
        self.mask: torch.Tensor | None = None
        if lens:
            after = torch.tensor(lens, dtype=torch.long, device=device) + 1
            self.mask = (torch.arange(self.width, device=device) < after.unsqueeze(1))[:, None, None, :]


class _Layer:
    """One decoder layer's modules and constants."""

    def __init__(self, layer: Any) -> None:
        attention, mlp = layer.self_attn, layer.mlp
        self.q, self.k, self.v, self.o = attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj
        self.gate, self.up, self.down = mlp.gate_proj, mlp.up_proj, mlp.down_proj
        self.act = mlp.act_fn
        self.scaling = float(attention.scaling)
        self.norm1 = (layer.input_layernorm.weight, float(layer.input_layernorm.variance_epsilon))
        self.norm2 = (layer.post_attention_layernorm.weight, float(layer.post_attention_layernorm.variance_epsilon))


class RaggedModel:
    """A Llama-family causal LM run on ragged steps (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        inner, config = model.model, model.config
        self.embed = inner.embed_tokens
        self.rotary = inner.rotary_emb
        self.norm = (inner.norm.weight, float(inner.norm.variance_epsilon))
        self.lm_head = model.lm_head
        self.layers = [_Layer(layer) for layer in inner.layers]
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.dtype = self.embed.weight.dtype
        self.device = self.embed.weight.device

    def new_cache(self) -> SlotCache:
        """An empty cache shaped for this model."""
        return SlotCache(len(self.layers), self.kv_heads, self.head_dim, self.dtype, self.device)

    def forward(self, ids: torch.Tensor, plan: StepPlan, cache: SlotCache) -> torch.Tensor:
        """The next-token logits of every row (``(rows, vocab)``); writes the step's keys and values.

        ``cache`` must have room for ``plan.rows`` rows of ``plan.longest`` tokens; rows and
        lengths it records are not changed (the caller commits them once this returns).
        """
        hidden = self.embed(ids)
        cos, sin = self.rotary(hidden.unsqueeze(0), plan.positions.unsqueeze(0))
        cos, sin = cos[0].unsqueeze(1), sin[0].unsqueeze(1)
        for index, layer in enumerate(self.layers):
            x = _rms_norm(hidden, layer.norm1)
            hidden = hidden + layer.o(self._attention(index, layer, x, (cos, sin), plan, cache))
            x = _rms_norm(hidden, layer.norm2)
            hidden = hidden + layer.down(layer.act(layer.gate(x)) * layer.up(x))
        last = _rms_norm(hidden.index_select(0, plan.last), self.norm)
        logits: torch.Tensor = self.lm_head(last)
        return logits

    def _attention(
        self,
        index: int,
        layer: _Layer,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        plan: StepPlan,
        cache: SlotCache,
    ) -> torch.Tensor:
        tokens, heads, kv_heads, dim = x.shape[0], self.heads, self.kv_heads, self.head_dim
        query_key = torch.cat([layer.q(x).view(tokens, heads, dim), layer.k(x).view(tokens, kv_heads, dim)], dim=1)
        cos, sin = rotary
        query_key = query_key * cos + _rotate_half(query_key) * sin
        query, key = query_key[:, :heads], query_key[:, heads:]
        value = layer.v(x).view(tokens, kv_heads, dim)
        cache.write(index, plan.where, key, value)
        parts = []
        if plan.decoding:
            keys, values = cache.layer(index)
            rows, width = plan.decoding, plan.width
            out = F.scaled_dot_product_attention(
                query[:rows].unsqueeze(2),
                keys[:rows, :, :width],
                values[:rows, :, :width],
                attn_mask=plan.mask,
                scale=layer.scaling,
                enable_gqa=True,
            )
            parts.append(out.reshape(rows, heads * dim))
        for start, length in plan.prompts:
            span = slice(start, start + length)
            out = F.scaled_dot_product_attention(
                query[span].transpose(0, 1).unsqueeze(0),
                key[span].transpose(0, 1).unsqueeze(0),
                value[span].transpose(0, 1).unsqueeze(0),
                is_causal=True,
                scale=layer.scaling,
                enable_gqa=True,
            )
            parts.append(out[0].transpose(0, 1).reshape(length, heads * dim))
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _rms_norm(x: torch.Tensor, norm: tuple[torch.Tensor, float]) -> torch.Tensor:
    weight, eps = norm
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def ineligible(model: Any, device: torch.device, attn_implementation: str) -> str | None:
    """Why ``model`` cannot take ragged steps (None when it can)."""
    config = getattr(model, "config", None)
    if type(model).__name__ not in ARCHITECTURES or config is None:
        return f"architecture {type(model).__name__}"
    if device.type != "cpu":
        return f"device {device.type}"
    if attn_implementation not in ("sdpa", "lf_sdpa"):
        return f"attention {attn_implementation}"
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return "sliding-window attention"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act}"
    layers = getattr(getattr(model, "model", None), "layers", None)
    if not layers or any(type(layer.input_layernorm).__name__ not in _NORMS for layer in layers):
        return "decoder layers"
    return None


def ragged_model(model: Any, device: torch.device, attn_implementation: str) -> RaggedModel | None:
    """A :class:`RaggedModel` for ``model``, or None when it is not eligible or fails the check at load."""
    reason = ineligible(model, device, attn_implementation)
    if reason is not None:
        log.info("padded batches", extra={"context": {"why": reason}})
        return None
    ragged = RaggedModel(model)
    try:
        with torch.inference_mode():
            matches = _matches_transformers(model, ragged)
    except Exception as exc:
        log.warning("ragged steps disabled", extra={"context": {"why": type(exc).__name__}})
        return None
    if not matches:
        log.warning("ragged steps disabled", extra={"context": {"why": "logits differ from transformers'"}})
        return None
    return ragged


def _matches_transformers(model: Any, ragged: RaggedModel) -> bool:
    """Two prompts prefilled, then decoded while a third joins: logits equal to transformers' forward."""
    vocab = ragged.embed.weight.shape[0]
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, vocab, (n,), generator=generator).tolist() for n in (5, 3, 4)]
    cache = ragged.new_cache()
    cache.reserve(3, 8)
    first = ragged.forward(
        torch.tensor(prompts[0] + prompts[1], device=ragged.device), StepPlan([], [5, 3], ragged.device), cache
    )
    cache.lens = [5, 3]
    nxt = first.argmax(-1).tolist()
    ids = torch.tensor([*nxt, *prompts[2]], device=ragged.device)
    second = ragged.forward(ids, StepPlan([5, 3], [4], ragged.device), cache)
    sequences = [prompts[0] + nxt[:1], prompts[1] + nxt[1:], prompts[2]]
    tolerance = 1e-4 if ragged.dtype == torch.float32 else 2e-2
    for row, sequence in enumerate(sequences):
        expected = model(input_ids=torch.tensor([sequence], device=ragged.device)).logits[0, -1].float()
        if not torch.allclose(second[row].float(), expected, rtol=tolerance, atol=tolerance):
            return False
    return True
