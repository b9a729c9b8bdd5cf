"""The memory and time formulas, checked against published parameter counts and textbook identities."""

from __future__ import annotations

import json

import pytest

from lf_planner import architecture, memory, perf
from lf_planner.config import Efficiency

# Published parameter counts (the models' own config.json + safetensors index totals).
PUBLISHED_PARAMS = {
    "llama-2-7b": 6_738_415_616,
    "llama-2-70b": 68_976_648_192,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.1-70b": 70_553_706_496,
    "mixtral-8x7b": 46_702_792_704,
    "smollm2-135m": 134_515_008,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_known_architectures_have_their_published_parameter_counts(name):
    assert architecture.from_name(name).shape_params() == PUBLISHED_PARAMS[name]


def test_mixture_of_experts_counts_only_routed_experts_as_active():
    mixtral = architecture.from_name("mixtral-8x7b")
    assert 12.5e9 < mixtral.active_params() < 13.5e9  # "12.9B active parameters" (Mistral AI)


def test_config_json_gives_the_exact_parameter_count(tiny_model_dir, smollm2_dir):
    from transformers import AutoConfig, AutoModelForCausalLM

    for directory in (tiny_model_dir, smollm2_dir):
        arch = architecture.from_path(directory)
        with __import__("torch").device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(directory))
        assert arch.shape_params() == sum(p.numel() for p in model.parameters())
    smol = architecture.from_path(smollm2_dir / "config.json")
    assert (smol.n_layers, smol.n_kv_heads, smol.head_dim) == (30, 3, 64)
    assert smol.kv_bytes_per_token(2) == 2 * 30 * 3 * 64 * 2


def test_a_size_alone_borrows_a_modern_shape_and_keeps_the_size():
    arch = architecture.from_size(70)
    assert arch.total_params() == 70e9
    assert arch.n_kv_heads == 8 and arch.gated_mlp
    assert "estimated" in arch.source


def test_weights_by_dtype():
    llama7 = architecture.from_name("llama-2-7b")
    assert memory.weights(llama7, "FP16").total_gb == pytest.approx(6.738 * 2, rel=1e-3)
    assert memory.weights(llama7, "FP32").total_gb == pytest.approx(6.738 * 4, rel=1e-3)
    # 4-bit in practice: 0.55-0.65 B/param once scales and 16-bit embeddings are counted.
    for name in ("llama-2-7b", "llama-2-13b", "mistral-7b"):
        arch = architecture.from_name(name)
        per_param = memory.weights(arch, "INT4").total_gb * 1e9 / arch.total_params()
        assert 0.55 <= per_param <= 0.65, (name, per_param)
    nf4 = memory.weights(llama7, "BF16", nf4=True).total_gb * 1e9 / llama7.total_params()
    assert 0.55 <= nf4 <= 0.65


def test_grouped_query_attention_shrinks_the_kv_cache():
    mha = architecture.from_name("llama-2-13b")
    gqa = architecture.from_name("llama-2-70b")
    assert mha.kv_bytes_per_token(2) == 2 * 40 * 40 * 128 * 2
    # 70B: 64 query heads but 8 KV heads -> 8/64 of what the head count suggests.
    assert gqa.kv_bytes_per_token(2) == 2 * 80 * 8 * 128 * 2
    assert gqa.kv_bytes_per_token(2) * 8 == 2 * 80 * 64 * 128 * 2


def _mem(arch, **kw):
    base = dict(
        method="full", precision="BF16", base_precision="BF16", optimizer="AdamW", master_weights=True,
        micro_batch=1, seq_len=2048, checkpointing=False, flash_attention=True, zero_stage=0, dp=1,
        lora_rank=16, targets=memory.lora_targets(["all-linear"]), lora_dropout=0.0, logits_bytes=10.0,
        chunked_loss=False,
    )  # fmt: skip
    base.update(kw)
    return memory.training_memory(arch, **base)


def test_mixed_precision_adam_is_16_bytes_per_parameter_and_zero_divides_it():
    arch = architecture.from_name("llama-3.1-8b")
    p = arch.total_params()
    states = lambda m: m.weights_gb + m.gradients_gb + m.optimizer_gb  # noqa: E731
    assert states(_mem(arch)) * 1e9 / p == pytest.approx(16.0)
    assert _mem(arch, zero_stage=1, dp=8).optimizer_gb * 8 == pytest.approx(_mem(arch).optimizer_gb)
    assert _mem(arch, zero_stage=2, dp=8).gradients_gb * 8 == pytest.approx(_mem(arch).gradients_gb)
    assert states(_mem(arch, zero_stage=3, dp=8)) * 1e9 / p == pytest.approx(2.0)
    assert _mem(arch, optimizer="Adam8bit").optimizer_gb * 1e9 / p == pytest.approx(6.0)
    assert _mem(arch, optimizer="SGD").optimizer_gb * 1e9 / p == pytest.approx(8.0)
    assert 4.0 < _mem(arch, optimizer="Adafactor").optimizer_gb * 1e9 / p < 4.1
    assert states(_mem(arch, precision="FP32")) * 1e9 / p == pytest.approx(16.0)
    assert states(_mem(arch, master_weights=False)) * 1e9 / p == pytest.approx(8.0)


def test_lora_trainable_parameters_match_peft():
    # PEFT prints "trainable params: 4,194,304" for Llama-2-7B, r=8 on q_proj and v_proj.
    assert memory.lora_params(architecture.from_name("llama-2-7b"), 8, {"q_proj", "v_proj"}) == 4_194_304


def test_lora_and_qlora_keep_frozen_weights_and_activations_dominate():
    arch = architecture.from_name("llama-3.1-8b")
    full, lora, qlora = (_mem(arch, method=m, micro_batch=4) for m in ("full", "lora", "qlora"))
    assert lora.total_gb < full.total_gb / 2
    assert _mem(arch, method="qlora", framework="native").weights_gb < lora.weights_gb / 2.5
    assert qlora.weights_gb < lora.weights_gb / 2  # PEFT: the 1.05B unquantized parameters in FP32
    assert qlora.activations_gb > qlora.weights_gb  # at 4 x 2048 tokens activations dominate
    assert lora.activations_gb >= full.activations_gb  # all-linear adapters need every input (+ their own)
    qv = _mem(arch, method="lora", micro_batch=4, targets={"q_proj", "v_proj"})
    assert qv.activations_gb < 0.8 * full.activations_gb  # frozen MLP layers keep no input copies


def test_qlora_under_peft_upcasts_what_it_did_not_quantize_and_the_residual_stream():
    # peft.prepare_model_for_kbit_training casts every non-4-bit parameter to FP32; the embedding output,
    # and so each checkpointed layer input, is then FP32; bf16 autocast keeps a 16-bit copy of the head.
    arch = architecture.from_name("llama-3.1-8b")
    peft, native = (_mem(arch, method="qlora", checkpointing=True, framework=f) for f in ("peft", "native"))
    unquantized = arch.total_params() - arch.linear_params()
    adapters_extra = peft.trainable_params * 2  # FP32 adapters instead of bf16 ones
    assert (peft.weights_gb - native.weights_gb) * 1e9 == pytest.approx(unquantized * 2 + adapters_extra)
    saved_extra = 2048 * arch.hidden * (arch.n_layers + 2) * 2  # layer inputs + embedding output + final norm input
    head_copy = arch.vocab * arch.hidden * 2
    assert (peft.activations_gb - native.activations_gb) * 1e9 == pytest.approx(saved_extra + head_copy)
    lora, lora_native = (_mem(arch, method="lora", checkpointing=True, framework=f) for f in ("peft", "native"))
    assert lora.activations_gb == pytest.approx(lora_native.activations_gb)  # only QLoRA upcasts
    with pytest.raises(ValueError, match="unknown framework"):
        _mem(arch, framework="unsloth")


def test_recomputation_trades_memory_for_8_6_of_the_compute():
    arch = architecture.from_name("llama-2-7b")
    assert _mem(arch, checkpointing=True).activations_gb < _mem(arch).activations_gb / 5
    plain = perf.training_flops_per_token(arch, seq_len=2048, frozen=False, recompute=False)
    again = perf.training_flops_per_token(arch, seq_len=2048, frozen=False, recompute=True)
    assert again / plain == pytest.approx(8 / 6)
    n = arch.matmul_params()
    assert plain == pytest.approx(6 * n + 6 * arch.n_layers * arch.q_dim * 2048 / 2 * 2)
    assert perf.training_flops_per_token(arch, seq_len=2048, frozen=True, recompute=False) < plain


def test_eager_attention_stores_the_score_matrix_flash_attention_does_not():
    arch = architecture.from_name("llama-2-7b")
    assert _mem(arch, flash_attention=False).activations_gb > _mem(arch).activations_gb


def test_decode_is_bandwidth_bound_until_the_ridge_point(catalog):
    arch = architecture.from_name("llama-3.1-8b")
    device = perf.Device(catalog.gpu("H100-80GB"))
    eff = Efficiency()
    weights = memory.weights(arch, "BF16").total_gb * 1e9
    kv = memory.kv_cache_bytes_per_token(arch, "BF16", None)
    small, bound_small = perf.decode_step_time(
        arch, device, eff, batch=1, context=512, weights_bytes=weights, kv_bytes_per_token=kv, dtype="bf16"
    )
    _, bound_large = perf.decode_step_time(
        arch, device, eff, batch=1024, context=64, weights_bytes=weights, kv_bytes_per_token=kv, dtype="bf16"
    )
    assert not bound_small and bound_large
    # At batch 1 a step costs one read of the weights and the cache, plus the per-layer overhead.
    expected = (weights + 512 * kv) / (3350e9 * eff.decode_mbu) + arch.n_layers * eff.per_layer_overhead_us * 1e-6
    assert small == pytest.approx(expected, rel=1e-6)
    # Prefill is compute-bound: 8x the prompt costs ~8x the time.
    t1 = perf.prefill_time(arch, device, eff, tokens=1024, weights_bytes=weights, dtype="bf16")
    t8 = perf.prefill_time(arch, device, eff, tokens=8192, weights_bytes=weights, dtype="bf16")
    assert 7 < t8 / t1 < 10


def test_dense_not_sparse_throughput_in_the_hardware_file(catalog):
    # NVIDIA's headline H100 SXM BF16 figure (1,979 TFLOPS) assumes 2:4 sparsity; dense is half.
    assert catalog.gpu("H100-80GB").tflops("bf16") == 989.5
    assert catalog.gpu("A100-80GB").tflops("bf16") == 312
    raw = json.loads((__import__("lf_planner.hardware", fromlist=["DATA_FILE"]).DATA_FILE).read_text())
    for gpu in raw["gpus"]:
        assert gpu["source"].startswith("https://"), gpu["name"]
        if "fp8" in gpu["dense_tflops"]:
            assert gpu["dense_tflops"]["fp8"] <= 2.05 * gpu["dense_tflops"]["bf16"]
    for price in raw["prices"]:
        assert price["source"] and price["read_on"][:2] == "20" and price["usd_per_gpu_hour"] > 0
