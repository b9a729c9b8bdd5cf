"""The shipped FSDP and DeepSpeed ZeRO configs (``distributed: fsdp|zero2|zero3``): they load, reach the Trainer,
and are refused where they cannot run. The runs themselves need GPUs (the ``gpu`` test at the end)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from lf.errors import ConfigError, DependencyMissingError
from lf.testing import run_cli
from lf_trainer_sft.config import SFTConfig
from lf_trainer_sft.distributed import STRATEGIES, check_strategy, config_file, training_arguments

REPO = Path(__file__).resolve().parents[3]


def config(**options):
    return SFTConfig(model="tiny", data="examples/data/chat.jsonl", **options)


def auto_keys(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from auto_keys(value, f"{prefix}{key}.")
        elif value == "auto":
            yield f"{prefix}{key}"


def test_each_strategy_reaches_the_trainer_arguments():
    assert STRATEGIES == ("ddp", "fsdp", "zero2", "zero3")
    assert training_arguments(config()) == {"ddp_timeout": 1800}
    fsdp = training_arguments(config(distributed="fsdp", distributed_timeout_s=60))
    assert fsdp == {"ddp_timeout": 60, "fsdp": True, "fsdp_config": str(config_file("fsdp"))}
    for stage in ("zero2", "zero3"):
        assert training_arguments(config(distributed=stage))["deepspeed"] == str(config_file(stage))
    own = training_arguments(config(fsdp="full_shard auto_wrap", fsdp_config="mine.json"))
    assert own["fsdp"] == "full_shard auto_wrap" and own["fsdp_config"] == "mine.json"


def test_the_fsdp_config_is_one_transformers_accepts():
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir="unused", report_to="none", **training_arguments(config(distributed="fsdp")))
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin["state_dict_type"] == "FULL_STATE_DICT" and plugin["reshard_after_forward"] is True


def test_the_deepspeed_configs_leave_to_transformers_only_what_it_fills():
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    filled = inspect.getsource(HfTrainerDeepSpeedConfig)  # fill_match("...")/fill_only("...") of every "auto" key
    for stage in (2, 3):
        data = json.loads(config_file(f"zero{stage}").read_text())
        assert data["zero_optimization"]["stage"] == stage
        keys = list(auto_keys(data))
        assert "train_micro_batch_size_per_gpu" in keys and "bf16.enabled" in keys
        assert [k for k in keys if f'"{k}"' not in filled] == []
    zero3 = json.loads(config_file("zero3").read_text())["zero_optimization"]
    assert zero3["stage3_gather_16bit_weights_on_model_save"]


def test_sharding_is_refused_where_it_cannot_run():
    with pytest.raises(ConfigError) as err:
        check_strategy(config(distributed="fsdp"), cuda=False)
    assert "no CUDA device is visible" in err.value.message and "distributed: ddp" in (err.value.hint or "")
    with pytest.raises(ConfigError) as err:
        check_strategy(config(fsdp="full_shard"), cuda=False)  # the raw option too: it would silently be DDP
    assert "fsdp shards the model" in err.value.message
    with pytest.raises(ConfigError) as err:
        check_strategy(config(distributed="zero3", deepspeed="mine.json"), cuda=True)
    assert "uses the shipped config; deepspeed sets another one" in err.value.message
    with pytest.raises(ConfigError) as err:
        check_strategy(config(distributed="zero2", quantization="4bit"), cuda=True)
    assert "QLoRA" in err.value.message
    check_strategy(config(), cuda=False)  # ddp runs anywhere
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        with pytest.raises(DependencyMissingError) as missing:
            check_strategy(config(distributed="zero2"), cuda=True)
        assert "lf-trainer-sft[deepspeed]" in (missing.value.hint or "")


def test_dry_run_shows_the_strategy_and_its_timeout():
    result = run_cli("train", "sft", "-c", "examples/sft-tiny.yaml", "--distributed-timeout-s", "120", "--dry-run",
                     cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "distributed: ddp" in result.stdout and "distributed_timeout_s: 120" in result.stdout


def _gpus() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


@pytest.mark.gpu
@pytest.mark.skipif(_gpus() < 2, reason="needs 2 CUDA GPUs")
@pytest.mark.parametrize("strategy", ["fsdp", "zero2", "zero3"])
def test_sharded_training_on_two_gpus_saves_a_model_that_loads(tmp_path, strategy):
    if strategy.startswith("zero"):
        pytest.importorskip("deepspeed")
    out = tmp_path / strategy
    result = run_cli(
        "train", "sft", "-c", "examples/sft-tiny.yaml", "--distributed", strategy, "--nproc", "2",
        "--output-dir", str(out), "--max-steps", "4", "--save-steps", "2", cwd=REPO, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reports = [line for line in result.stderr.splitlines() if line.startswith("lf rank ")]
    assert len(reports) == 2 and len({r.rsplit("sha256:", 1)[1] for r in reports}) == 1  # the shards agree
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out).num_parameters() > 0
