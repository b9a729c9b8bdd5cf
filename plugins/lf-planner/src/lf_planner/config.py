"""The planner's inputs: msgspec Structs for the inference and training configs.

Field names follow the capacity-planner requirements (``LLMWorkloadInput``, ``ModelConfig``,
``GPUConfig``, ``ServiceInput``, ``TrainingInput``) so that a JSON config written for them
loads unchanged. Every field has a default or is required, and carries a description that
becomes the comment of ``lf plan --generate-config`` and the help of the interactive mode.

This module imports only msgspec: ``lf --help`` loads it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Precision = Literal["FP32", "FP16", "BF16", "FP8", "INT8", "INT4"]
TrainingPrecision = Literal["FP32", "FP16", "BF16", "FP8"]
Optimizer = Literal["Adam", "AdamW", "Adam8bit", "Adafactor", "SGD"]
Method = Literal["full", "lora", "qlora"]

PosFloat = Annotated[float, msgspec.Meta(gt=0)]
PosInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
ModelSize = Annotated[float, msgspec.Meta(gt=0, le=20000)]
Months = Annotated[int, msgspec.Meta(gt=0, le=120)]

#: Linear modules LoRA can target (Llama naming; other families are mapped onto these roles).
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _d(text: str, **constraints: float) -> msgspec.Meta:
    return msgspec.Meta(description=text, **constraints)  # type: ignore[call-overload]


class LLMWorkloadInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The traffic a service must handle."""

    requests_per_second: Annotated[
        float, _d("Average requests per second the service must handle (> 0), e.g. 10.", gt=0)
    ]
    avg_input_tokens: Annotated[int, _d("Average prompt length in tokens (> 0), e.g. 500.", gt=0)]
    avg_output_tokens: Annotated[int, _d("Average generated tokens per request (> 0), e.g. 200.", gt=0)]
    peak_load_multiplier: Annotated[
        float, _d("Peak traffic as a multiple of the average (1.0-10.0).", ge=1.0, le=10.0)
    ] = 1.5
    growth_rate: Annotated[
        float, _d("Expected traffic growth over the planning horizon, in percent (0-1000).", ge=0, le=1000)
    ] = 0.0


class ModelConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The model: its size (or its config.json) and how it is stored and served."""

    model_size_billions: Annotated[
        ModelSize | None,
        _d("Parameters in billions, e.g. 7, 70, 405. Optional when model_path is given."),
    ] = None
    model_path: Annotated[
        str | None,
        _d(
            "A Hugging Face model directory, its config.json, or a known architecture name (lf plan models): "
            "the exact layers, hidden size, attention and KV heads give an exact KV-cache size."
        ),
    ] = None
    precision: Annotated[
        Precision,
        _d("Weight precision: FP32, FP16, BF16, FP8, INT8 or INT4 (4-bit GPTQ/AWQ/NF4-style)."),
    ] = "BF16"
    kv_cache_precision: Annotated[
        Literal["FP32", "FP16", "BF16", "FP8", "INT8"] | None,
        _d("KV-cache precision; default: the weight precision for 16/32-bit models, FP16 otherwise."),
    ] = None
    context_window: Annotated[int, _d("Maximum tokens per sequence (prompt + output).", gt=0)] = 4096
    batch_size: Annotated[
        PosInt | None,
        _d("Maximum concurrent sequences per replica; empty: the planner picks the best that meets the SLA."),
    ] = None
    target_latency_p50_ms: Annotated[PosFloat | None, _d("Median time-to-first-token target in milliseconds.")] = None
    target_latency_p99_ms: Annotated[
        PosFloat | None, _d("99th-percentile time-to-first-token target in milliseconds.")
    ] = None
    target_itl_ms: Annotated[
        PosFloat | None, _d("Inter-token latency target in milliseconds (time between streamed tokens).")
    ] = None


class GPUConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which GPUs, how full to run them, and how many exist today."""

    gpu_type: Annotated[
        str | None,
        _d("GPU type from the hardware file (e.g. A100-80GB, H100-80GB, L40S); empty: the planner recommends one."),
    ] = None
    gpu_memory_gb: Annotated[
        PosFloat | None, _d("Override the GPU memory in GB (derived from gpu_type when empty).")
    ] = None
    target_gpu_utilization: Annotated[
        float, _d("Fraction of each replica's capacity to plan for (0-1]; headroom absorbs bursts.", gt=0, le=1)
    ] = 0.7
    current_replicas: Annotated[NonNegInt | None, _d("Replicas running today, to compare with the recommendation.")] = (
        None
    )
    num_gpus: Annotated[PosInt | None, _d("Training: use exactly this many GPUs (empty: the fewest that fit).")] = None
    gpus_per_node: Annotated[int, _d("GPUs per server (node).", gt=0)] = 8


class ServiceInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who the plan is for and where it runs."""

    service_id: Annotated[str | None, _d("Service identifier, e.g. chat-api.")] = None
    service_name: Annotated[str | None, _d("Human-readable service name.")] = None
    team_id: Annotated[str | None, _d("Owning team.")] = None
    environment: Annotated[Literal["prod", "staging", "dev"] | None, _d("prod, staging or dev.")] = None
    criticality: Annotated[Literal["high", "medium", "low"] | None, _d("high, medium or low.")] = None
    cloud_provider: Annotated[
        str | None, _d("Provider whose prices to use (aws, gcp, azure, or any provider in the prices file).")
    ] = None
    region: Annotated[str | None, _d("Region, e.g. us-east-1 (informational: prices are per provider).")] = None


class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What to compute and where to write it."""

    include_cost: Annotated[bool, _d("Compute costs (GPU, storage, network) from the prices file.")] = False
    output_file: Annotated[
        str | None, _d("Write the plan here; the format follows the extension (.json, .csv, .html).")
    ] = None
    hardware_file: Annotated[str | None, _d("Your own hardware + prices JSON file, merged over the shipped one.")] = (
        None
    )


class Efficiency(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The measured efficiency factors the formulas use, never constants buried in code.

    Defaults come from published measurements (see the plugin README, "Efficiency
    factors"); ``lf plan calibrate RESULTS`` fits them to your own runs.
    """

    training_mfu: Annotated[
        float,
        _d(
            "Training model-FLOPs utilization: achieved / peak dense FLOPs. 0.40 = Llama 3 (38-43% BF16 on "
            "H100), NeMo FP8 Llama 2/3 (36-39% of FP8 peak), LLaMA-65B (~48% on A100).",
            gt=0,
            le=1,
        ),
    ] = 0.40
    prefill_mfu: Annotated[
        float,
        _d(
            "Prefill (prompt) FLOPs utilization of the 16-bit peak; TensorRT-LLM A100 FP16 TTFT: 0.61-0.69.", gt=0, le=1
        ),
    ] = 0.65
    decode_mbu: Annotated[
        float,
        _d(
            "Decode memory-bandwidth utilization: achieved / peak HBM bandwidth while streaming weights and KV.",
            gt=0,
            le=1,
        ),
    ] = 0.75
    decode_mfu: Annotated[
        float, _d("Decode FLOPs utilization once the batch passes the ridge point (compute-bound).", gt=0, le=1)
    ] = 0.55
    low_precision_efficiency: Annotated[
        float,
        _d(
            "FP8/INT8 serving kernels reach this fraction of the utilization 16-bit kernels reach of their own "
            "(2x higher) peak (TensorRT-LLM H100 FP8 Llama-2 TTFT: 0.33-0.40 of FP8 peak vs 0.61-0.69 on A100 FP16).",
            gt=0,
            le=1,
        ),
    ] = 0.7
    per_layer_overhead_us: Annotated[
        float, _d("Fixed time per transformer layer per forward pass (kernel launches, norms), microseconds.", ge=0)
    ] = 20.0
    allreduce_latency_us: Annotated[
        float, _d("Latency of one tensor-parallel all-reduce, microseconds (two per layer per forward).", ge=0)
    ] = 30.0
    max_batch_size: Annotated[
        int,
        _d(
            "Most sequences a serving engine runs at once when batch_size is not set "
            "(vLLM's max_num_seqs default: 256).",
            gt=0,
        ),
    ] = 256
    request_overhead_ms: Annotated[
        float, _d("Fixed time added to every time-to-first-token: scheduling, sampling, detokenizing, ms.", ge=0)
    ] = 5.0
    qlora_slowdown: Annotated[
        float,
        _d("QLoRA step time / LoRA step time (dequantizing 4-bit weights); torchtune Llama 3.1 8B: 3083/2413.", ge=1),
    ] = 1.28
    multi_node_scaling: Annotated[
        float, _d("Throughput kept per GPU when training spans several nodes (network overhead).", gt=0, le=1)
    ] = 0.9
    gpu_memory_utilization: Annotated[
        float,
        _d(
            "Fraction of GPU memory the planner may fill (vLLM's default 0.9); "
            "the rest is CUDA context and fragmentation.",
            gt=0,
            le=1,
        ),
    ] = 0.9
    serving_overhead_gb: Annotated[
        float, _d("Per-GPU memory for activations, CUDA graphs and sampler buffers while serving, GB.", ge=0)
    ] = 1.5
    loss_logits_bytes: Annotated[
        float,
        _d(
            "Bytes per token per vocabulary entry held around the loss: 16-bit logits + FP32 log-softmax + FP32 "
            "gradient = 10 (Hugging Face); set chunked_loss for chunked cross-entropy.",
            ge=0,
        ),
    ] = 10.0


class Constants(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Planning constants for storage, network and cost that are not about GPUs (all overridable)."""

    hours_per_month: Annotated[float, _d("Hours in a billing month.", gt=0)] = 730.0
    peak_hours_fraction: Annotated[
        float,
        _d(
            "Share of the month spent at peak load (autoscaled GPU cost = min replicas + this share at max).",
            ge=0,
            le=1,
        ),
    ] = 0.25
    request_bytes_per_input_token: Annotated[
        float, _d("Request body bytes per prompt token (UTF-8 text + JSON).", gt=0)
    ] = 4.0
    response_bytes_per_output_token: Annotated[
        float, _d("Response bytes per streamed token (one OpenAI-style SSE chunk each).", gt=0)
    ] = 120.0
    http_overhead_bytes: Annotated[float, _d("HTTP + TLS overhead per request and response, bytes.", ge=0)] = 1500.0
    connection_headroom: Annotated[
        float, _d("Concurrent connections planned per connection expected (Little's law).", ge=1)
    ] = 1.5
    connections_per_load_balancer: Annotated[
        int, _d("Concurrent long-lived (streaming) connections one load balancer instance is planned for.", gt=0)
    ] = 10000
    log_bytes_per_request: Annotated[
        float, _d("Access-log and metrics bytes per request (metadata only: prompts are never logged).", ge=0)
    ] = 1024.0
    log_retention_days: Annotated[int, _d("Days logs are kept.", ge=0)] = 30
    model_versions_kept: Annotated[int, _d("Model versions kept in the model store (current + rollback).", ge=1)] = 2
    checkpoints_kept: Annotated[int, _d("Training checkpoints kept on disk.", ge=1)] = 2
    dataset_bytes_per_token: Annotated[
        float, _d("Dataset bytes per token on disk: ~4 of raw text + 4 of int32 token ids.", gt=0)
    ] = 8.0


class TrainingInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A fine-tuning (or pretraining) job."""

    workload_type: Annotated[Literal["training"], _d("Always 'training'.")] = "training"
    dataset_size_tokens: Annotated[int, _d("Tokens in the dataset (one epoch), e.g. 1000000000.", gt=0)]
    sequence_length: Annotated[int, _d("Tokens per training sequence, e.g. 2048, 4096, 8192.", gt=0)]
    num_epochs: Annotated[int, _d("Passes over the dataset, e.g. 1, 3.", gt=0)]
    global_batch_size: Annotated[int, _d("Sequences per optimizer step across all GPUs, e.g. 64.", gt=0)]
    micro_batch_size: Annotated[int, _d("Sequences per GPU per forward/backward pass.", gt=0)] = 1
    gradient_accumulation_steps: Annotated[
        PosInt | None, _d("Micro-batches accumulated per step; empty: global / (micro x data-parallel GPUs).")
    ] = None
    optimizer_type: Annotated[Optimizer, _d("Adam, AdamW, Adam8bit (bitsandbytes), Adafactor or SGD.")] = "AdamW"
    gradient_checkpointing: Annotated[
        bool, _d("Recompute activations in the backward pass: far less memory, 8/6 of the compute.")
    ] = False
    training_precision: Annotated[
        TrainingPrecision, _d("Compute precision: FP32, FP16, BF16 (mixed, FP32 master weights) or FP8.")
    ] = "BF16"
    method: Annotated[Method, _d("full fine-tuning, lora, or qlora (4-bit frozen base + LoRA).")] = "full"
    lora_rank: Annotated[int, _d("LoRA rank r.", gt=0)] = 16
    lora_targets: Annotated[
        list[str],
        _d(
            "Modules with LoRA adapters: names among q_proj k_proj v_proj o_proj gate_proj up_proj "
            "down_proj, or all-linear."
        ),
    ] = msgspec.field(default_factory=lambda: ["all-linear"])
    lora_dropout: Annotated[
        float, _d("LoRA dropout (> 0 keeps a dropped-out copy of each adapter input).", ge=0, lt=1)
    ] = 0.0
    zero_stage: Annotated[
        Literal[0, 1, 2, 3] | None,
        _d(
            "DeepSpeed ZeRO / FSDP sharding: 0 none, 1 optimizer, 2 +gradients, 3 +weights; empty: the least that fits."
        ),
    ] = None
    master_weights: Annotated[
        bool, _d("Mixed precision keeps FP32 master weights (16 B/param with Adam); false for pure 16-bit training.")
    ] = True
    flash_attention: Annotated[bool, _d("FlashAttention/SDPA: no S x S attention matrix is stored.")] = True
    chunked_loss: Annotated[bool, _d("Chunked cross-entropy: logits are never held for the whole batch.")] = False
    max_duration_hours: Annotated[
        PosFloat | None, _d("Add data-parallel GPUs until the run finishes within this many hours.")
    ] = None


class InferenceConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``lf plan inference`` as a JSON file (``--config``)."""

    mode: Annotated[Literal["inference"], _d("Always 'inference'.")] = "inference"
    workload: LLMWorkloadInput
    model: ModelConfig
    gpu: GPUConfig = msgspec.field(default_factory=GPUConfig)
    service: ServiceInput = msgspec.field(default_factory=ServiceInput)
    options: Options = msgspec.field(default_factory=Options)
    efficiency: Efficiency = msgspec.field(default_factory=Efficiency)
    constants: Constants = msgspec.field(default_factory=Constants)


class TrainingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``lf plan training`` as a JSON file (``--config``)."""

    mode: Annotated[Literal["training"], _d("Always 'training'.")] = "training"
    training: TrainingInput
    model: ModelConfig
    gpu: GPUConfig = msgspec.field(default_factory=GPUConfig)
    service: ServiceInput = msgspec.field(default_factory=ServiceInput)
    options: Options = msgspec.field(default_factory=Options)
    efficiency: Efficiency = msgspec.field(default_factory=Efficiency)
    constants: Constants = msgspec.field(default_factory=Constants)


class ForecastConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Forecasting parameters (the requirements' ``ForecastConfig``)."""

    horizon_days: Annotated[int, _d("Days to forecast.", gt=0, le=3650)] = 30
    horizon_months: Annotated[Months | None, _d("Months to forecast (overrides horizon_days).")] = None
    seasonal_period: Annotated[int, _d("Season length in periods (7 = weekly pattern on daily data).", ge=2)] = 7
    scenario: Annotated[
        Literal["baseline", "optimistic", "pessimistic", "spike"], _d("Scenario to size capacity for.")
    ] = "baseline"
    variance_threshold_pct: Annotated[
        float, _d("Flag drift when recent actuals differ from the forecast by more than this, percent.", gt=0)
    ] = 10.0
    spike_multiplier: Annotated[float, _d("Spike scenario: the P90 forecast times this.", ge=1)] = 2.0
    monthly_budget: Annotated[PosFloat | None, _d("Monthly budget to compare forecast costs with.")] = None
