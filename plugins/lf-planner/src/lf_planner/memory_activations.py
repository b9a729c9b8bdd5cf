"""Activation memory of a training step (see :mod:`lf_planner.memory` for the sources).

Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models" (2022), counted
tensor by tensor for a pre-norm GQA + SwiGLU layer, with full recomputation or without, plus the
loss logits and whatever the stack keeps beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lf_planner.architecture import ModelArch

_GB = 1e9


def layer_activation_elements(
    arch: ModelArch,
    seq_len: int,
    *,
    frozen: bool,
    targets: set[str],
    flash_attention: bool,
    lora_rank: int = 0,
    lora_dropout: float = 0.0,
) -> float:
    """Activation elements one layer keeps per token for the backward pass.

    Full training (Korthikanti et al. with GQA, SwiGLU, FlashAttention, no dropout): the two
    norm inputs, the attention input, Q, K, V, the attention output (FlashAttention also keeps
    a log-sum-exp per head), the MLP input, gate, up and the down-projection input. A frozen
    linear layer needs no copy of its input (its weight gradient is never formed), so LoRA and
    QLoRA keep the attention / MLP inputs only for targeted modules - activations then dominate.
    """
    h, q, kv, i = arch.hidden, arch.q_dim, arch.kv_dim, arch.intermediate
    k = arch.experts_per_token
    attention = h + q + 2 * kv + q + arch.n_heads * 2  # norm input, Q, K, V, output, LSE (fp32 per head)
    if not frozen or targets & {"q_proj", "k_proj", "v_proj"}:
        attention += h  # input of the QKV projection
    if not flash_attention:
        attention += (
            arch.n_heads * seq_len
        )  # softmax probabilities: a x s per token (Korthikanti's 5as/h term, no dropout)
    mlp = h  # norm input
    if arch.gated_mlp:
        mlp += k * 2 * i  # gate and up outputs (the SiLU-and-multiply backward needs both)
        if not frozen or targets & {"gate_proj", "up_proj"}:
            mlp += k * h
        if not frozen or "down_proj" in targets:
            mlp += k * i
    else:
        mlp += k * i  # activation input
        if not frozen or "up_proj" in targets:
            mlp += k * h
        if not frozen or "down_proj" in targets:
            mlp += k * i
    extra = 0.0
    if frozen and targets:
        n = len(targets)
        extra += lora_rank * n  # LoRA A outputs
        if lora_dropout > 0:
            widths = {"q_proj": h, "k_proj": h, "v_proj": h, "o_proj": q, "gate_proj": h, "up_proj": h, "down_proj": i}
            extra += sum(1.5 * widths.get(t, h) for t in targets)  # dropped-out copy + 1-byte mask
    return attention + mlp + extra


@dataclass
class Activations:
    """Per-GPU activation memory of one micro-batch."""

    peak_gb: float
    logits_gb: float
    without_checkpointing_gb: float


def activations(
    arch: ModelArch,
    *,
    act_bytes: float,
    residual_bytes: float,
    head_copy_bytes: float,
    tokens: int,
    seq_len: int,
    frozen: bool,
    targets: set[str],
    flash_attention: bool,
    lora_rank: int,
    lora_dropout: float,
    checkpointing: bool,
    logits_bytes: float,
    chunked_loss: bool,
) -> Activations:
    """The activation peak (with or without full recomputation) and the loss logits.

    ``residual_bytes``: the residual stream's dtype (layer inputs, embedding output); ``head_copy_bytes``:
    a cast copy of the output head's weight that autocast keeps from the head's forward to its backward.
    """
    per_layer = layer_activation_elements(
        arch,
        seq_len,
        frozen=frozen,
        targets=targets if frozen else set(),
        flash_attention=flash_attention,
        lora_rank=lora_rank,
        lora_dropout=lora_dropout,
    )
    layer_gb = tokens * per_layer * act_bytes / _GB
    full_acts = layer_gb * arch.n_layers
    embed_out = tokens * arch.hidden * residual_bytes / _GB * 2  # embedding output + final norm input
    per_entry = logits_bytes if not chunked_loss else 2.0 + max(logits_bytes - 2.0, 0.0) / 8
    logits_gb = tokens * arch.vocab * per_entry / _GB + arch.vocab * arch.hidden * head_copy_bytes / _GB
    if checkpointing:
        # Full recomputation keeps each layer's input; the peak is either at the loss (logits) or
        # while one layer is recomputed in the backward pass, whichever is larger.
        saved = tokens * arch.hidden * arch.n_layers * residual_bytes / _GB + embed_out
        peak = saved + max(logits_gb, layer_gb)
    else:
        peak = full_acts + embed_out + logits_gb
    return Activations(peak_gb=peak, logits_gb=logits_gb, without_checkpointing_gb=full_acts + embed_out + logits_gb)
