"""The assumptions behind a fine-tuning plan's numbers, stated as numbered notes (A1, A2, ...)."""

from __future__ import annotations

from lf_planner import memory, perf
from lf_planner.architecture import ModelArch
from lf_planner.common import Notes, weights_text
from lf_planner.config import TrainingConfig
from lf_planner.training_layout import Layout

_ZERO_SHARDS = {
    0: "nothing",
    1: "optimizer states",
    2: "optimizer states and gradients",
    3: "optimizer states, gradients and weights",
}


def explain_training(notes: Notes, arch: ModelArch, cfg: TrainingConfig, chosen: Layout) -> None:
    """State every assumption behind the chosen layout's numbers, in the plan's reading order."""
    notes.add(["model"], f"Architecture: {arch.source}.")
    if cfg.training.method == "full":
        _explain_full_model_states(notes, cfg, chosen)
    else:
        _explain_adapters(notes, arch, cfg, chosen)
    _explain_activations(notes, arch, cfg)
    _explain_compute(notes, arch, cfg, chosen)
    notes.add(
        ["data_parallel_config"],
        "Pure data parallelism (each GPU a full replica, sharded by ZeRO/FSDP when needed): global batch = "
        "micro batch x gradient accumulation x data-parallel GPUs.",
    )
    const = cfg.constants
    notes.add(
        ["storage"],
        "Checkpoints hold 16-bit weights + optimizer states (adapters only for LoRA/QLoRA), "
        f"{const.checkpoints_kept} kept; "
        f"the dataset takes {const.dataset_bytes_per_token:g} B per token (raw text + token ids).",
    )


def _explain_full_model_states(notes: Notes, cfg: TrainingConfig, x: Layout) -> None:
    """Weights, gradients and optimizer states of full fine-tuning, and what ZeRO shards."""
    t = cfg.training
    master = t.master_weights and t.training_precision != "FP32"
    notes.add(
        ["gpu_resources.model_weights_gb", "gpu_resources.gradients_gb", "gpu_resources.optimizer_states_gb"],
        f"Model states (ZeRO paper): {'4' if t.training_precision == 'FP32' else '2'} B weights + "
        f"{'4' if t.training_precision == 'FP32' else '2'} B gradients + {t.optimizer_type} states "
        + ("with an FP32 master copy (mixed precision: 16 B/param with Adam)" if master else "without master weights")
        + (" + an FP8 weight copy (Transformer Engine)" if t.training_precision == "FP8" else "")
        + f"; ZeRO stage {x.zero} shards "
        + _ZERO_SHARDS[x.zero]
        + f" over {x.gpus} GPU(s).",
    )


def _explain_adapters(notes: Notes, arch: ModelArch, cfg: TrainingConfig, x: Layout) -> None:
    """The frozen base and the trainable adapters of LoRA / QLoRA."""
    t = cfg.training
    nf4 = t.method == "qlora"
    notes.add(
        ["gpu_resources.model_weights_gb"],
        (
            "QLoRA: frozen base in NF4; PEFT's prepare_model_for_kbit_training upcasts what it did not quantize "
            "(embeddings, output head, norms) to FP32. "
            if nf4
            else "LoRA: frozen base weights. "
        )
        + weights_text(
            arch,
            "FP32" if nf4 else "BF16" if cfg.model.precision not in ("FP32", "FP16", "BF16") else cfg.model.precision,
            nf4=nf4,
        )
        + f" Adapters: r={t.lora_rank} on {', '.join(sorted(memory.lora_targets(t.lora_targets)))}: "
        f"{x.mem.trainable_params / 1e6:.1f}M trainable parameters in FP32 with their gradients and "
        "optimizer states.",
    )


def _explain_activations(notes: Notes, arch: ModelArch, cfg: TrainingConfig) -> None:
    """How activations and the loss logits are counted."""
    t, eff = cfg.training, cfg.efficiency
    notes.add(
        ["gpu_resources.activations_gb"],
        "Activations per Korthikanti et al. (2022), counted per tensor for a pre-norm GQA + "
        + ("SwiGLU" if arch.gated_mlp else "GELU")
        + " layer "
        + (
            "with FlashAttention (no S x S scores)"
            if t.flash_attention
            else "with eager attention (S x S probabilities per head)"
        )
        + ", no dropout"
        + ("; frozen linear layers keep no input copy" if t.method != "full" else "")
        + (
            "; under QLoRA the FP32 embeddings make the residual stream (each checkpointed layer input) FP32, and "
            "bf16 autocast holds a 16-bit copy of the output head during the loss"
            if t.method == "qlora"
            else ""
        )
        + (
            "; full recomputation keeps each layer's input and recomputes one layer at a time (8/6 of the compute)"
            if t.gradient_checkpointing
            else ""
        )
        + f"; plus the loss logits: tokens x vocab {arch.vocab} x "
        + (f"{eff.loss_logits_bytes:g} B" if not t.chunked_loss else "~3 B (chunked cross-entropy)")
        + ". Measured peaks exclude the CUDA context, so only "
        f"{eff.gpu_memory_utilization:.0%} of each GPU is planned.",
    )


def _explain_compute(notes: Notes, arch: ModelArch, cfg: TrainingConfig, x: Layout) -> None:
    """FLOPs per token and the utilization behind tokens/s and the duration."""
    t, eff = cfg.training, cfg.efficiency
    dtype, fallback = perf.compute_dtype(x.gpu, t.training_precision, training=True)
    flops = perf.training_flops_per_token(
        arch, seq_len=t.sequence_length, frozen=t.method != "full", recompute=t.gradient_checkpointing
    )
    notes.add(
        ["training_metrics.tokens_per_second_per_gpu", "training_metrics.estimated_duration_hours"],
        f"Compute: {flops / 1e9:.1f} GFLOPs per token = "
        + ("6N" if t.method == "full" else "4N (frozen weights need no weight gradients)")
        + " + causal attention"
        + (" x 8/6 (recomputation)" if t.gradient_checkpointing else "")
        + f", N = {arch.matmul_params() / 1e9:.2f}B, at {eff.training_mfu:.0%} of the dense {dtype.upper()} peak "
        f"({x.gpu.tflops(dtype):g} TFLOPS)"
        + (f", / {eff.qlora_slowdown:g} for dequantizing NF4" if t.method == "qlora" else "")
        + (f"; x {eff.multi_node_scaling:.0%} across {x.nodes} nodes" if x.nodes > 1 else "")
        + ".",
    )
    if fallback:
        notes.warn(fallback)
