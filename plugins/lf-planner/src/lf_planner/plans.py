"""The planner's outputs: ``LLMCapacityPlan`` and ``TrainingCapacityPlan`` (the requirements' names).

Every estimate points (``assumptions``) at the formula and factors that produced it, so the JSON
is self-explaining; the published JSON Schemas (``lf plan schema``) are generated from these
Structs. Units: GB = 1e9 bytes, ms, tokens/s, USD.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from lf_planner.config import (
    Constants,
    Efficiency,
    GPUConfig,
    LLMWorkloadInput,
    ModelConfig,
    ServiceInput,
    TrainingInput,
)

SCHEMA_VERSION = "1"


class Base(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Shared Struct settings."""


class Assumption(Base, kw_only=True):
    """One stated assumption: what it covers and what it says."""

    id: str
    applies_to: list[str]
    text: str


class ModelInfo(Base, kw_only=True):
    """The model as the planner understood it."""

    name: str
    parameters_billions: float
    active_parameters_billions: float
    architecture: str
    architecture_source: str
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    weight_bytes_per_parameter: float
    kv_cache_bytes_per_token: float


class HardwareData(Base, kw_only=True):
    """Which hardware / price data the plan used."""

    digest: str
    sources: list[str]


# --- inference ------------------------------------------------------------------------------------


class MemoryBreakdown(Base, kw_only=True):
    """GPU memory of one replica (all its GPUs), GB."""

    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float
    total_gb: float


class InferenceGPUResources(Base, kw_only=True):
    """How many GPUs, of which type, in how many replicas."""

    gpu_memory_per_replica_gb: float
    memory_breakdown: MemoryBreakdown
    min_gpus_per_replica: int
    tensor_parallel_size: int
    recommended_gpu_type: str
    gpu_memory_gb: float
    min_replicas: int
    max_replicas: int
    total_gpus: int
    max_concurrent_sequences_per_replica: int
    kv_cache_tokens_per_replica: int


class SLACheck(Base, kw_only=True):
    """One latency target against its estimate."""

    metric: Literal["ttft_p50", "ttft_p99", "itl"]
    target_ms: float
    estimate_ms: float
    ok: bool


class Throughput(Base, kw_only=True):
    """What one replica and the whole deployment sustain, and how fast a request feels."""

    tps_per_replica: float
    input_tps_per_replica: float
    rps_per_replica: float
    total_tps_capacity: float
    max_rps_capacity: float
    recommended_batch_size: int
    decode_bound: Literal["memory-bandwidth", "compute"]
    estimated_ttft_ms: float
    estimated_ttft_p99_ms: float
    estimated_itl_ms: float
    estimated_e2e_latency_ms: float
    meets_latency_sla: bool | None
    sla_checks: list[SLACheck]


class InferenceStorage(Base, kw_only=True):
    """Disk the service needs, GB."""

    model_storage_gb: float
    cache_storage_gb: float
    log_storage_gb: float
    total_storage_gb: float


class Network(Base, kw_only=True):
    """Traffic and front-end sizing at the planned peak."""

    bandwidth_mbps: float
    ingress_mbps: float
    egress_mbps: float
    egress_gb_per_month: float
    connection_limit: int
    recommended_load_balancers: int


class Scaling(Base, kw_only=True):
    """Replica range and autoscaling thresholds."""

    recommended_min_replicas: int
    recommended_max_replicas: int
    current_replicas: int | None
    replica_change: int | None
    auto_scale_rps_threshold: float
    auto_scale_gpu_util_threshold: float
    auto_scale_latency_threshold_ms: float
    scale_down_rps_threshold: float


class InferenceCost(Base, kw_only=True):
    """Money, from the prices file."""

    provider: str
    gpu_type: str
    usd_per_gpu_hour: float
    price_read_on: str
    price_source: str
    monthly_gpu_cost: float
    monthly_gpu_cost_at_max_replicas: float
    cost_per_million_tokens: float
    cost_per_million_output_tokens: float
    monthly_storage_cost: float
    monthly_network_cost: float
    monthly_load_balancer_cost: float
    monthly_total_cost: float
    currency: str = "USD"


class InferenceOption(Base, kw_only=True):
    """One GPU type, planned the same way (the comparison behind the recommendation)."""

    gpu_type: str
    fits: bool
    reason: str
    gpus_per_replica: int
    max_replicas: int
    total_gpus: int
    tps_per_replica: float
    estimated_ttft_ms: float
    estimated_itl_ms: float
    meets_latency_sla: bool | None
    provider: str | None
    usd_per_gpu_hour: float | None
    monthly_gpu_cost: float | None


class LoadPoint(Base, kw_only=True):
    """Replicas needed at one load level (the replicas-vs-load chart)."""

    load_multiplier: float
    requests_per_second: float
    replicas: int


class LLMCapacityPlan(Base, kw_only=True):
    """A serving plan (the requirements' ``LLMCapacityPlan``)."""

    plan_type: Literal["inference"] = "inference"
    schema_version: str = SCHEMA_VERSION
    planner_version: str
    workload_input: LLMWorkloadInput
    model_config: ModelConfig
    gpu_config: GPUConfig
    service: ServiceInput
    model: ModelInfo
    gpu_resources: InferenceGPUResources
    throughput: Throughput
    storage: InferenceStorage
    network: Network
    scaling: Scaling
    cost: InferenceCost | None
    gpu_comparison: list[InferenceOption]
    load_curve: list[LoadPoint]
    efficiency: Efficiency
    constants: Constants
    assumptions: list[Assumption]
    warnings: list[str]
    hardware_data: HardwareData


# --- training -------------------------------------------------------------------------------------


class TrainingGPUResources(Base, kw_only=True):
    """Per-GPU memory and the GPU count."""

    gpu_memory_per_gpu_gb: float
    model_weights_gb: float
    gradients_gb: float
    optimizer_states_gb: float
    activations_gb: float
    buffers_gb: float
    activations_without_checkpointing_gb: float
    fits_in_memory: bool
    required_gpus: int
    recommended_gpu_type: str
    gpu_memory_gb: float
    gpus_per_node: int
    num_nodes: int
    zero_stage: int
    trainable_parameters_billions: float


class TrainingMetrics(Base, kw_only=True):
    """How fast and how long."""

    tokens_per_second_per_gpu: float
    total_tokens_per_second: float
    steps_per_epoch: int
    total_steps: int
    total_tokens: int
    step_time_seconds: float
    estimated_duration_hours: float
    estimated_duration_days: float
    flops_per_token: float
    model_flops_utilization: float


class DataParallelConfig(Base, kw_only=True):
    """The data-parallel layout."""

    data_parallel_size: int
    effective_batch_size: int
    effective_batch_tokens: int
    micro_batch_size: int
    gradient_accumulation_steps: int


class TrainingStorage(Base, kw_only=True):
    """Disk for checkpoints and data, GB."""

    model_checkpoint_gb: float
    checkpoints_kept: int
    dataset_storage_gb: float
    total_storage_gb: float


class TrainingCost(Base, kw_only=True):
    """Money, from the prices file."""

    provider: str
    gpu_type: str
    usd_per_gpu_hour: float
    price_read_on: str
    price_source: str
    gpu_cost_per_hour: float
    total_training_cost: float
    cost_per_epoch: float
    cost_per_million_tokens: float
    currency: str = "USD"


class TrainingOption(Base, kw_only=True):
    """One GPU type, planned the same way."""

    gpu_type: str
    fits: bool
    reason: str
    gpus: int
    zero_stage: int
    gpu_memory_per_gpu_gb: float
    estimated_duration_hours: float
    provider: str | None
    usd_per_gpu_hour: float | None
    total_training_cost: float | None


class TrainingCapacityPlan(Base, kw_only=True):
    """A fine-tuning plan (the requirements' ``TrainingCapacityPlan``)."""

    plan_type: Literal["training"] = "training"
    schema_version: str = SCHEMA_VERSION
    planner_version: str
    training_input: TrainingInput
    model_config: ModelConfig
    gpu_config: GPUConfig
    service: ServiceInput
    model: ModelInfo
    gpu_resources: TrainingGPUResources
    training_metrics: TrainingMetrics
    data_parallel_config: DataParallelConfig
    storage: TrainingStorage
    cost: TrainingCost | None
    gpu_comparison: list[TrainingOption]
    efficiency: Efficiency
    constants: Constants
    assumptions: list[Assumption]
    warnings: list[str]
    hardware_data: HardwareData


Plan = LLMCapacityPlan | TrainingCapacityPlan
