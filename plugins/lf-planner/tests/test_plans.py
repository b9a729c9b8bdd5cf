"""Inference and training plans: the requirements' outputs, determinism, SLA handling, validation."""

from __future__ import annotations

import msgspec
import pytest

from lf.errors import ConfigError
from lf_planner.config import GPUConfig, ModelConfig, ServiceInput, TrainingInput
from lf_planner.engine import LLMForecastEngine
from lf_planner.export import to_json
from lf_planner.plans import LLMCapacityPlan, TrainingCapacityPlan

REQUIRED_INFERENCE = {
    "gpu_resources": {
        "gpu_memory_per_replica_gb",
        "min_gpus_per_replica",
        "recommended_gpu_type",
        "min_replicas",
        "max_replicas",
        "total_gpus",
    },
    "throughput": {
        "tps_per_replica",
        "total_tps_capacity",
        "max_rps_capacity",
        "estimated_ttft_ms",
        "estimated_itl_ms",
        "meets_latency_sla",
    },
    "storage": {"model_storage_gb", "cache_storage_gb", "total_storage_gb"},
    "network": {"bandwidth_mbps", "connection_limit", "recommended_load_balancers"},
    "scaling": {
        "recommended_min_replicas",
        "recommended_max_replicas",
        "auto_scale_rps_threshold",
        "auto_scale_gpu_util_threshold",
        "auto_scale_latency_threshold_ms",
    },
    "cost": {"monthly_gpu_cost", "cost_per_million_tokens", "monthly_total_cost", "currency"},
}
REQUIRED_TRAINING = {
    "gpu_resources": {
        "gpu_memory_per_gpu_gb",
        "model_weights_gb",
        "gradients_gb",
        "optimizer_states_gb",
        "activations_gb",
        "required_gpus",
        "recommended_gpu_type",
        "gpus_per_node",
        "num_nodes",
    },
    "training_metrics": {
        "tokens_per_second_per_gpu",
        "total_tokens_per_second",
        "steps_per_epoch",
        "total_steps",
        "estimated_duration_hours",
        "estimated_duration_days",
    },
    "data_parallel_config": {"data_parallel_size", "effective_batch_size", "gradient_accumulation_steps"},
    "storage": {"model_checkpoint_gb", "dataset_storage_gb", "total_storage_gb"},
    "cost": {"gpu_cost_per_hour", "total_training_cost", "cost_per_epoch", "currency"},
}


def _plan(cfg):
    return LLMForecastEngine().plan(cfg)


def test_inference_plan_has_every_requirement_field_and_states_its_assumptions(inference_cfg):
    plan = _plan(inference_cfg)
    assert isinstance(plan, LLMCapacityPlan)
    data = msgspec.to_builtins(plan)
    for section, fields in REQUIRED_INFERENCE.items():
        assert fields <= set(data[section]), section
    g, t = plan.gpu_resources, plan.throughput
    mb = g.memory_breakdown
    assert mb.weights_gb == pytest.approx(140.0)  # 70B x 2 bytes
    assert mb.total_gb == pytest.approx(mb.weights_gb + mb.kv_cache_gb + mb.overhead_gb, abs=0.02)
    assert g.min_gpus_per_replica == 4  # 140 GB of FP16 weights do not fit on 2 x 80 GB at 90 %
    assert g.total_gpus == g.max_replicas * g.min_gpus_per_replica
    assert g.max_replicas >= g.min_replicas >= 1
    assert t.max_rps_capacity >= 10 * 1.5 / 1.0 * 0.999  # peak load covered
    assert t.estimated_itl_ms > 0 and t.estimated_ttft_ms > 0
    assert plan.cost is not None and plan.cost.monthly_total_cost > plan.cost.monthly_gpu_cost
    assert plan.cost.price_read_on and plan.cost.price_source
    covered = {p for a in plan.assumptions for p in a.applies_to}
    for key in (
        "throughput.estimated_ttft_ms",
        "throughput.tps_per_replica",
        "gpu_resources.memory_breakdown.kv_cache_gb",
        "cost",
    ):
        assert any(key == c or key.startswith(c + ".") for c in covered), key


def test_same_input_same_output(inference_cfg, training_cfg):
    assert to_json(_plan(inference_cfg)) == to_json(_plan(inference_cfg))
    assert to_json(_plan(training_cfg)) == to_json(_plan(training_cfg))


def test_a_tight_sla_is_reported_missed_with_a_way_out(inference_cfg):
    cfg = msgspec.structs.replace(
        inference_cfg,
        model=msgspec.structs.replace(inference_cfg.model, target_latency_p50_ms=20, target_latency_p99_ms=40),
    )
    plan = _plan(cfg)
    assert plan.throughput.meets_latency_sla is False
    assert {c.metric for c in plan.throughput.sla_checks} == {"ttft_p50", "ttft_p99"}
    assert any("SLA is not met" in w for w in plan.warnings)


def test_an_itl_target_shrinks_the_batch(inference_cfg):
    loose = _plan(inference_cfg).throughput
    cfg = msgspec.structs.replace(
        inference_cfg, model=msgspec.structs.replace(inference_cfg.model, target_itl_ms=loose.estimated_itl_ms * 0.6)
    )
    tight = _plan(cfg).throughput
    assert tight.recommended_batch_size < loose.recommended_batch_size
    assert tight.estimated_itl_ms < loose.estimated_itl_ms


def test_growth_peak_and_availability_raise_replicas(inference_cfg):
    base = _plan(inference_cfg).gpu_resources
    grown = _plan(
        msgspec.structs.replace(
            inference_cfg, workload=msgspec.structs.replace(inference_cfg.workload, growth_rate=200)
        )
    ).gpu_resources
    assert grown.max_replicas > base.max_replicas and grown.min_replicas == base.min_replicas
    small = msgspec.structs.replace(
        inference_cfg, workload=msgspec.structs.replace(inference_cfg.workload, requests_per_second=0.1)
    )
    assert _plan(small).gpu_resources.min_replicas == 1
    prod = msgspec.structs.replace(small, service=ServiceInput(environment="prod"))
    assert _plan(prod).gpu_resources.min_replicas == 2


def test_without_a_gpu_type_the_planner_recommends_one_and_compares_all(inference_cfg):
    cfg = msgspec.structs.replace(inference_cfg, gpu=GPUConfig())
    plan = _plan(cfg)
    names = {o.gpu_type for o in plan.gpu_comparison}
    assert {"A100-80GB", "H100-80GB", "L40S", "L4"} <= names
    chosen = next(o for o in plan.gpu_comparison if o.gpu_type == plan.gpu_resources.recommended_gpu_type)
    priced = [
        o for o in plan.gpu_comparison if o.fits and o.monthly_gpu_cost is not None and o.meets_latency_sla is not False
    ]
    assert chosen.monthly_gpu_cost == min(o.monthly_gpu_cost for o in priced)
    assert [p.replicas for p in plan.load_curve] == sorted(p.replicas for p in plan.load_curve)


def test_a_model_directory_gives_the_exact_kv_cache(tiny_model_dir, inference_cfg):
    cfg = msgspec.structs.replace(
        inference_cfg,
        workload=msgspec.structs.replace(inference_cfg.workload, avg_input_tokens=100, avg_output_tokens=20),
        model=ModelConfig(model_path=str(tiny_model_dir), precision="FP32", context_window=256),
        gpu=GPUConfig(gpu_type="L4"),
    )
    plan = _plan(cfg)
    import json

    config = json.loads((tiny_model_dir / "config.json").read_text())
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    assert plan.model.kv_cache_bytes_per_token == 2 * config["num_hidden_layers"] * kv * head_dim * 4
    assert plan.model.architecture_source.startswith("config.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(workload=dict(avg_input_tokens=8000, avg_output_tokens=500)), "longer than context_window"),
        (dict(model=dict(target_latency_p50_ms=500, target_latency_p99_ms=100)), "below the p50 target"),
        (dict(gpu=dict(gpu_type="A100-80G")), "Did you mean 'A100-80GB'"),
        (dict(model=dict(model_size_billions=None)), "model is missing"),
        (dict(gpu=dict(gpu_type="L4"), model=dict(model_size_billions=405)), "does not fit on L4"),
    ],
)
def test_inputs_that_contradict_each_other_are_rejected_with_a_fix(inference_cfg, change, message):
    data = msgspec.to_builtins(inference_cfg)
    for section, values in change.items():
        data[section].update(values)
    cfg = msgspec.convert(data, type(inference_cfg))
    with pytest.raises(ConfigError) as err:
        _plan(cfg)
    assert message in str(err.value)
    assert err.value.hint


def test_training_plan_has_every_requirement_field(training_cfg):
    plan = _plan(training_cfg)
    assert isinstance(plan, TrainingCapacityPlan)
    data = msgspec.to_builtins(plan)
    for section, fields in REQUIRED_TRAINING.items():
        assert fields <= set(data[section]), section
    g, m, dp = plan.gpu_resources, plan.training_metrics, plan.data_parallel_config
    assert g.fits_in_memory and g.gpu_memory_per_gpu_gb <= 80 * 0.9
    assert dp.effective_batch_size == dp.data_parallel_size * dp.micro_batch_size * dp.gradient_accumulation_steps == 32
    assert m.total_steps == m.steps_per_epoch * 2
    assert m.estimated_duration_hours == pytest.approx(200e6 / m.total_tokens_per_second / 3600, rel=1e-3)
    assert plan.cost.total_training_cost == pytest.approx(plan.cost.cost_per_epoch * 2, rel=1e-3)


def test_methods_and_checkpointing_change_memory_the_right_way(training_cfg):
    def gpu_mem(**kw):
        t = msgspec.structs.replace(training_cfg.training, **kw)
        return _plan(msgspec.structs.replace(training_cfg, training=t)).gpu_resources

    full = gpu_mem(method="full", gradient_checkpointing=True)
    lora = gpu_mem(method="lora", gradient_checkpointing=True)
    qlora = gpu_mem(method="qlora", gradient_checkpointing=True)
    assert full.required_gpus >= lora.required_gpus
    assert qlora.model_weights_gb < lora.model_weights_gb < 17
    assert lora.optimizer_states_gb < 1


def test_training_that_cannot_fit_says_what_to_change(training_cfg):
    t = msgspec.structs.replace(
        training_cfg.training,
        gradient_checkpointing=False,
        sequence_length=32768,
        micro_batch_size=8,
        global_batch_size=64,
    )
    with pytest.raises(ConfigError) as err:
        _plan(msgspec.structs.replace(training_cfg, training=t))
    assert "activations alone" in err.value.message and "gradient-checkpointing" in err.value.hint


def test_fp8_training_needs_fp8_hardware(training_cfg):
    t = msgspec.structs.replace(training_cfg.training, training_precision="FP8")
    with pytest.raises(ConfigError, match="FP8 tensor cores"):
        _plan(msgspec.structs.replace(training_cfg, training=t, gpu=GPUConfig(gpu_type="A100-80GB")))


def test_a_duration_target_adds_data_parallel_gpus(training_cfg):
    slow = _plan(training_cfg)
    t = msgspec.structs.replace(
        training_cfg.training, max_duration_hours=slow.training_metrics.estimated_duration_hours / 3
    )
    fast = _plan(msgspec.structs.replace(training_cfg, training=t))
    assert fast.gpu_resources.required_gpus >= 4 * slow.gpu_resources.required_gpus
    assert fast.training_metrics.estimated_duration_hours <= t.max_duration_hours


def test_the_programmatic_interface_of_the_requirements():
    from lf_planner.config import LLMWorkloadInput

    engine = LLMForecastEngine()
    inference = engine.generate_inference_plan(
        LLMWorkloadInput(requests_per_second=10.0, avg_input_tokens=500, avg_output_tokens=200),
        ModelConfig(model_size_billions=70, precision="FP16", context_window=8192),
    )
    training = engine.generate_training_plan(
        TrainingInput(
            dataset_size_tokens=1_000_000_000,
            sequence_length=4096,
            num_epochs=3,
            global_batch_size=64,
            optimizer_type="Adam",
            gradient_checkpointing=True,
        ),
        ModelConfig(model_size_billions=70, precision="BF16"),
    )
    assert inference.gpu_resources.total_gpus > 0
    assert training.training_metrics.estimated_duration_hours > 0


def test_a_fixed_gradient_accumulation_sets_the_data_parallel_size(training_cfg):
    t = msgspec.structs.replace(
        training_cfg.training, global_batch_size=64, micro_batch_size=2, gradient_accumulation_steps=4
    )
    plan = _plan(msgspec.structs.replace(training_cfg, training=t))
    dp = plan.data_parallel_config
    assert (dp.data_parallel_size, dp.gradient_accumulation_steps, dp.effective_batch_size) == (8, 4, 64)
    assert plan.gpu_resources.required_gpus == 8 and not plan.warnings
