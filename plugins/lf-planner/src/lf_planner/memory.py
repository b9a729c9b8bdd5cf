"""Memory formulas: weights by dtype, KV cache, and training memory (states + activations).

Sources of the formulas (see README "Formulas"):

* weights: bytes per parameter by dtype; 4/8-bit schemes quantize only the transformer's linear
  layers and keep embeddings / output head in 16 bits, and add their scales (GPTQ/AWQ: one FP16
  scale + 4-bit zero per 128 weights; NF4: an 8-bit absmax per 64 weights, double-quantized);
* KV cache: ``2 * layers * kv_heads * head_dim * bytes`` per token;
* model states: Rajbhandari et al., "ZeRO" (2019): mixed-precision Adam = 2 (16-bit weights) +
  2 (16-bit gradients) + 12 (FP32 master weights, momentum, variance) = 16 bytes per parameter,
  stages 1/2/3 shard optimizer states / gradients / weights over the data-parallel GPUs;
* activations: Korthikanti et al., "Reducing Activation Recomputation in Large Transformer
  Models" (2022), counted tensor by tensor for a pre-norm GQA + SwiGLU layer with
  FlashAttention (no S x S matrix) and no dropout, plus the loss logits for large vocabularies;
* LoRA / QLoRA stacks (``framework``): Hugging Face PEFT keeps adapters in FP32
  (``autocast_adapter_dtype``), and for QLoRA ``prepare_model_for_kbit_training`` upcasts every
  weight it did not quantize (embeddings, output head, norms) to FP32 - so the residual stream,
  and each checkpointed layer input, is FP32 too, and bf16 autocast holds a 16-bit copy of the
  head for the loss; a native 16-bit stack (torchtune) keeps all of that in the training dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

from lf_planner.architecture import ModelArch
from lf_planner.memory_activations import activations
from lf_planner.memory_activations import layer_activation_elements as layer_activation_elements  # re-exported

GB = 1e9

#: Bytes per weight for the transformer's linear layers, per precision.
LINEAR_BYTES = {
    "FP32": 4.0,
    "FP16": 2.0,
    "BF16": 2.0,
    "FP8": 1.0 + 4 / 4096,  # one FP32 scale per output channel of a 4096-wide layer: negligible
    "INT8": 1.0 + 2 / 4096,  # per-channel FP16 scale
    "INT4": 0.5 + (2 + 0.5) / 128,  # GPTQ/AWQ group 128: FP16 scale + 4-bit zero point per group
}
#: NF4 (bitsandbytes, QLoRA): 4 bits + an 8-bit absmax per 64 weights + FP32 second-level absmax per 256 blocks.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
#: Bytes of embeddings / output head (never quantized by these schemes).
EMBED_BYTES = {"FP32": 4.0}

KV_BYTES = {"FP32": 4.0, "FP16": 2.0, "BF16": 2.0, "FP8": 1.0, "INT8": 1.0}

#: LoRA / QLoRA software stacks: Hugging Face PEFT (what ``lf train sft`` runs) or a native 16-bit one (torchtune).
FRAMEWORKS = ("peft", "native")


@dataclass(frozen=True)
class Weights:
    """Model weights in memory."""

    linear_gb: float
    embedding_gb: float

    @property
    def total_gb(self) -> float:
        """All weights."""
        return self.linear_gb + self.embedding_gb


def weights(arch: ModelArch, precision: str, *, nf4: bool = False) -> Weights:
    """Weights of ``arch`` stored at ``precision`` (``nf4`` for QLoRA's 4-bit format)."""
    linear = arch.linear_params()
    other = arch.total_params() - linear
    per_linear = NF4_BYTES if nf4 else LINEAR_BYTES[precision]
    per_other = EMBED_BYTES.get(precision, 2.0)
    return Weights(linear * per_linear / GB, other * per_other / GB)


def kv_cache_bytes_per_token(arch: ModelArch, precision: str, kv_precision: str | None) -> float:
    """KV-cache bytes per token (all layers)."""
    return arch.kv_bytes_per_token(KV_BYTES[kv_dtype(precision, kv_precision)])


def kv_dtype(precision: str, kv_precision: str | None) -> str:
    """The KV-cache dtype: as asked, else the weight dtype for float models, else FP16."""
    if kv_precision:
        return kv_precision
    return precision if precision in ("FP32", "FP16", "BF16") else "FP16"


# --- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingMemory:
    """Per-GPU training memory, in GB (1e9 bytes), as allocated by the framework (no CUDA context)."""

    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    #: Peak activation memory, the loss logits included (they are alive at the same time).
    activations_gb: float
    logits_gb: float
    buffers_gb: float
    activations_without_checkpointing_gb: float
    trainable_params: float

    @property
    def total_gb(self) -> float:
        """Everything a GPU holds at the peak of a step."""
        return self.weights_gb + self.gradients_gb + self.optimizer_gb + self.activations_gb + self.buffers_gb


def lora_targets(targets: list[str]) -> set[str]:
    """Normalize LoRA target names to the Llama module roles."""
    from lf_planner.config import LORA_MODULES

    aliases = {
        "all-linear": set(LORA_MODULES),
        "all_linear": set(LORA_MODULES),
        "attention": {"q_proj", "k_proj", "v_proj", "o_proj"},
        "mlp": {"gate_proj", "up_proj", "down_proj"},
        "output_proj": {"o_proj"},
        "query": {"q_proj"},
        "key": {"k_proj"},
        "value": {"v_proj"},
        "query_key_value": {"q_proj", "k_proj", "v_proj"},
        "qkv_proj": {"q_proj", "k_proj", "v_proj"},
        "w1": {"gate_proj"},
        "w3": {"up_proj"},
        "w2": {"down_proj"},
        "fc1": {"up_proj"},
        "fc2": {"down_proj"},
        "dense_h_to_4h": {"up_proj"},
        "dense_4h_to_h": {"down_proj"},
        "dense": {"o_proj"},
    }
    found: set[str] = set()
    for t in targets:
        key = t.strip().lower()
        found |= aliases.get(key, {key})
    return found


def lora_params(arch: ModelArch, rank: int, targets: set[str]) -> float:
    """Trainable LoRA parameters: ``r * (in + out)`` per targeted matrix per layer (every expert in MoE)."""
    h, q, kv, i = arch.hidden, arch.q_dim, arch.kv_dim, arch.intermediate
    shapes = {
        "q_proj": (h, q),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (q, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }
    per_layer = 0
    for name in targets & set(shapes):
        if name == "gate_proj" and not arch.gated_mlp:
            continue
        a, b = shapes[name]
        copies = arch.n_experts if name in ("gate_proj", "up_proj", "down_proj") else 1
        per_layer += rank * (a + b) * copies
    return float(per_layer * arch.n_layers)


def training_memory(
    arch: ModelArch,
    *,
    method: str,
    precision: str,
    base_precision: str,
    optimizer: str,
    master_weights: bool,
    micro_batch: int,
    seq_len: int,
    checkpointing: bool,
    flash_attention: bool,
    zero_stage: int,
    dp: int,
    lora_rank: int,
    targets: set[str],
    lora_dropout: float,
    logits_bytes: float,
    chunked_loss: bool,
    framework: str = "peft",
) -> TrainingMemory:
    """Per-GPU memory of one training step (see the module docstring for the sources)."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}")
    frozen = method in ("lora", "qlora")
    shard = max(dp, 1)
    act_bytes = 4.0 if precision == "FP32" else 2.0
    upcast = method == "qlora" and framework == "peft"  # prepare_model_for_kbit_training's FP32 non-quantized weights
    if frozen:
        adapters = _Adapters(lora_rank, targets, 4.0 if framework == "peft" else act_bytes, upcast)
        states = _adapter_states(arch, method, base_precision, optimizer, adapters, zero_stage, shard)
    else:
        states = _full_states(arch, precision, optimizer, master_weights, zero_stage, shard)
    acts = activations(
        arch,
        act_bytes=act_bytes,
        residual_bytes=4.0 if upcast else act_bytes,
        head_copy_bytes=2.0 if upcast else 0.0,
        tokens=micro_batch * seq_len,
        seq_len=seq_len,
        frozen=frozen,
        targets=targets,
        flash_attention=flash_attention,
        lora_rank=lora_rank,
        lora_dropout=lora_dropout,
        checkpointing=checkpointing,
        logits_bytes=logits_bytes,
        chunked_loss=chunked_loss,
    )
    return TrainingMemory(
        weights_gb=states.weights_gb,
        gradients_gb=states.gradients_gb,
        optimizer_gb=states.optimizer_gb,
        activations_gb=acts.peak_gb,
        logits_gb=acts.logits_gb,
        buffers_gb=_gather_buffers_gb(arch, method, zero_stage, shard),
        activations_without_checkpointing_gb=acts.without_checkpointing_gb,
        trainable_params=states.trainable_params,
    )


def _gather_buffers_gb(arch: ModelArch, method: str, zero_stage: int, shard: int) -> float:
    """ZeRO-3 / FSDP gathers the current (and prefetches the next) layer's 16-bit weights."""
    if zero_stage < 3 or shard <= 1:
        return 0.0
    return 2 * arch.layer_params() * (NF4_BYTES if method == "qlora" else 2.0) / GB


@dataclass
class _Adapters:
    """The LoRA adapters and how the stack stores them."""

    rank: int
    targets: set[str]
    #: bytes per adapter weight (and gradient): 4 under PEFT (FP32), else the training dtype's
    dtype_bytes: float
    #: QLoRA under PEFT: the weights left unquantized (embeddings, head, norms) are FP32
    upcast: bool


@dataclass
class _ModelStates:
    """Per-GPU weights, gradients and optimizer states, and the trainable parameter count."""

    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    trainable_params: float


def _adapter_states(
    arch: ModelArch,
    method: str,
    base_precision: str,
    optimizer: str,
    adapters: _Adapters,
    zero_stage: int,
    shard: int,
) -> _ModelStates:
    """LoRA / QLoRA: a frozen base (NF4 for QLoRA) plus adapters with their gradients and optimizer states."""
    if method == "qlora":
        base = weights(arch, "FP32" if adapters.upcast else "BF16", nf4=True).total_gb
    else:
        base = weights(arch, base_precision if base_precision in ("FP32", "FP16", "BF16") else "BF16").total_gb
    trainable = lora_params(arch, adapters.rank, adapters.targets)
    adapter_w = adapter_g = adapters.dtype_bytes  # weights + gradients (+ optimizer states in that dtype)
    adapter_opt = optimizer_bytes_per_param(optimizer, master=False, fp32=adapter_w == 4.0, arch=arch)
    return _ModelStates(
        weights_gb=(base / shard if zero_stage >= 3 else base) + trainable * adapter_w / GB,
        gradients_gb=trainable * adapter_g / GB / (shard if zero_stage >= 2 else 1),
        optimizer_gb=trainable * adapter_opt / GB / (shard if zero_stage >= 1 else 1),
        trainable_params=trainable,
    )


def _full_states(
    arch: ModelArch, precision: str, optimizer: str, master_weights: bool, zero_stage: int, shard: int
) -> _ModelStates:
    """Full fine-tuning: every parameter's weight, gradient and optimizer states, sharded by ZeRO stage."""
    params = arch.total_params()
    fp32 = precision == "FP32"
    w_b = 4.0 if fp32 else 2.0
    if precision == "FP8":
        w_b += 1.0  # Transformer Engine keeps an FP8 copy of the weights during the step
    g_b = 4.0 if fp32 else 2.0
    o_b = optimizer_bytes_per_param(optimizer, master=master_weights and not fp32, fp32=fp32, arch=arch)
    return _ModelStates(
        weights_gb=params * w_b / GB / (shard if zero_stage >= 3 else 1),
        gradients_gb=params * g_b / GB / (shard if zero_stage >= 2 else 1),
        optimizer_gb=params * o_b / GB / (shard if zero_stage >= 1 else 1),
        trainable_params=params,
    )


def optimizer_bytes_per_param(optimizer: str, *, master: bool, fp32: bool, arch: ModelArch) -> float:
    """Optimizer-state bytes per trainable parameter (FP32 master copy included when kept)."""
    state = 4.0 if fp32 or master else 2.0  # dtype of the moment estimates
    master_copy = 4.0 if master else 0.0
    if optimizer in ("Adam", "AdamW"):
        return master_copy + 2 * state
    if optimizer == "Adam8bit":
        return master_copy + 2.0  # two 8-bit moments (block-wise quantized, bitsandbytes)
    if optimizer == "SGD":
        return master_copy + state  # momentum buffer
    if optimizer == "Adafactor":
        # Factored second moment: one row and one column vector per matrix; no first moment.
        h, i = arch.hidden, arch.intermediate
        per_layer_vectors = (h + arch.q_dim) * 2 + (h + arch.kv_dim) * 2 + (h + i) * 3
        per_param = per_layer_vectors / max(arch.layer_params(), 1)
        return master_copy + state * per_param
    raise ValueError(f"unknown optimizer {optimizer}")
