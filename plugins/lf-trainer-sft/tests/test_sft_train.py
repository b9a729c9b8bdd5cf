"""Training runs on the tiny model, in-process (the Python API) and through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lf.errors import ConfigError, DataError, DependencyMissingError, OutOfMemoryError
from lf.models import resolve_model
from lf.plugins import plugin_module
from lf.testing import run_cli
from lf_trainer_sft.sft import SFTTrainer

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
CHAT_DATA = EXAMPLES / "data" / "chat.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_output(out: Path, *, adapter: bool = False) -> None:
    weights = "adapter_model.safetensors" if adapter else "model.safetensors"
    for name in (weights, "tokenizer.json", "chat_template.jinja", "generation_config.json", "train_log.jsonl"):
        assert (out / name).is_file(), f"{name} missing from {out}"
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["eos_token_id"] is not None
    assert json.loads((out / "lf_output.json").read_text())["complete"] is True


@pytest.mark.slow
def test_sft_tiny_example_as_written(tmp_path: Path) -> None:
    out = tmp_path / "sft"
    result = run_cli(
        "run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", "--set", f"output_dir={out}", cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert_output(out)
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = read_jsonl(out / "train_log.jsonl")
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0] - 0.5, losses
    assert {"step", "epoch", "loss", "lr", "tokens_per_s"} <= set([r for r in log if "loss" in r][-1])
    # the output reloads and generates, stopping at its end-of-turn token
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    generated = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] > ids["input_ids"].shape[1]


@pytest.mark.slow
def test_pretrain_tiny_example_as_written(tmp_path: Path) -> None:
    out = tmp_path / "pretrain"
    result = run_cli(
        "run",
        "train",
        "--plugin",
        "pretrain",
        "--config",
        "examples/pretrain-tiny.yaml",
        "--set",
        f"output_dir={out}",
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert_output(out)
    losses = [r["loss"] for r in read_jsonl(out / "train_log.jsonl") if "loss" in r]
    assert losses[-1] < losses[0] - 0.5, losses


def test_group_texts_makes_full_blocks(tiny_dir: Path) -> None:
    from datasets import Dataset

    from lf_trainer_sft.models import load_tokenizer
    from lf_trainer_sft.pretrain import group_texts

    tok = load_tokenizer(str(tiny_dir))
    ds = Dataset.from_list([{"text": "Paris is the capital of France."}] * 20)
    blocks = group_texts(ds, tok, 16)
    assert len(blocks) > 3 and all(len(b) == 16 for b in blocks["input_ids"])
    assert blocks[0]["labels"] == blocks[0]["input_ids"]
    assert tok.eos_token_id in blocks[0]["input_ids"] + blocks[1]["input_ids"]


def test_hooks_progress_and_log(tmp_path: Path, events: Any, sft_registry: Any, quick_sft: Any) -> None:
    from transformers import TrainerCallback

    calls: list[str] = []

    class Seen(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            Seen.steps += 1

    def before(component, config):
        calls.append(f"before:{component.name}")
        config.max_steps = 3  # a hook may adjust the config

    def after(component, config, model, tokenizer):
        calls.append(f"after:{type(model).__name__}:{tokenizer.eos_token}")

    def train_callbacks(component, config):
        return [Seen()]

    def after_train(component, config, result):
        calls.append(f"done:{result.global_step}")

    hooks = plugin_module(
        "adjuster",
        lf_before_model_load=before,
        lf_after_model_load=after,
        lf_train_callbacks=train_callbacks,
        lf_after_train=after_train,
    )
    sft_registry.add_plugin(hooks, name="adjuster")
    result = SFTTrainer().run(quick_sft(tmp_path / "out"), events)
    assert calls == ["before:sft", "after:LlamaForCausalLM:<|im_end|>", "done:3"]
    assert Seen.steps == 3 and result.global_step == 3
    assert not sft_registry.problems
    bars = [c for c in events.progress_calls if c[0] == "training"]
    assert bars[-1][1] == 3 and bars[-1][2] == 3
    assert {"loss", "lr", "tokens_per_s"} <= set(bars[-1][3])
    assert any("loss" in values for values, _ in events.metric_calls)
    log = read_jsonl(tmp_path / "out" / "train_log.jsonl")
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3]
    assert result.metrics["tokens_per_s"] > 0
    # checkpoints every 2 steps, each with its completion marker
    assert (tmp_path / "out" / "checkpoint-2" / "lf_checkpoint.json").is_file()


def test_cuda_oom_becomes_a_clear_error(tmp_path: Path, events: Any, sft_registry: Any, quick_sft: Any) -> None:
    import torch
    from transformers import TrainerCallback

    class Boom(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    sft_registry.add_plugin(plugin_module("boom", lf_train_callbacks=lambda component, config: [Boom()]), name="boom")
    with pytest.raises(OutOfMemoryError) as info:
        SFTTrainer().run(quick_sft(tmp_path / "out"), events)
    assert "per_device_train_batch_size (now 8)" in info.value.hint
    assert "gradient_checkpointing: true" in info.value.hint and "quantization: 4bit" in info.value.hint


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ('{"foo": 1}\n{"bar": 2}\n', "format"),
        ('{"messages": [{"role": "user"}]}\n{"messages": []}\n', "none of the 2 records is valid"),
    ],
)
def test_bad_data_stops_before_the_model_loads(
    tmp_path: Path, events: Any, content: str, message: str, quick_sft: Any
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    # the model is a hub id that does not exist: reaching it would raise a different error
    with pytest.raises(DataError, match=message):
        SFTTrainer().run(quick_sft(tmp_path / "out", data=str(data), model="nobody/no-such-model"), events)


def test_qlora_on_cpu_is_refused_clearly(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        SFTTrainer().run(quick_sft(tmp_path / "out", method="lora", quantization="4bit"), events)


def test_report_to_a_missing_package(
    tmp_path: Path, events: Any, monkeypatch: pytest.MonkeyPatch, quick_sft: Any
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(DependencyMissingError, match="wandb"):
        SFTTrainer().run(quick_sft(tmp_path / "out", report_to=["wandb"]), events)


def test_report_to_wandb_with_a_mocked_wandb(tmp_path: Path) -> None:
    # a fresh process: TRL imports wandb when it is itself imported, so the fake must be there first
    fake = tmp_path / "fake"
    (fake / "wandb" / "sdk" / "lib").mkdir(parents=True)
    (fake / "wandb" / "sdk" / "__init__.py").write_text("")
    (fake / "wandb" / "sdk" / "lib" / "__init__.py").write_text("")
    (fake / "wandb" / "sdk" / "lib" / "config_util.py").write_text("class ConfigError(Exception):\n    pass\n")
    (fake / "wandb" / "__init__.py").write_text(FAKE_WANDB)
    log = tmp_path / "wandb.jsonl"
    out = tmp_path / "out"
    result = run_cli(
        "run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", "--set", f"output_dir={out}",
        "--set", "max_steps=2", "--set", "logging_steps=1", "--set", "report_to=[wandb]", "--set", "run_name=lf-test",
        cwd=REPO, env={"PYTHONPATH": str(fake), "FAKE_WANDB_LOG": str(log)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    calls = read_jsonl(log)
    assert calls[0]["init"]["name"] == "lf-test"
    logged = [c["log"] for c in calls if "log" in c]
    assert any("train/loss" in entry for entry in logged)


FAKE_WANDB = """
import json, os
run = None
summary = {}
__version__ = "0.0-fake"


def _write(entry):
    with open(os.environ["FAKE_WANDB_LOG"], "a") as f:
        f.write(json.dumps(entry, default=str) + "\\n")


class _Config(dict):
    def update(self, data=None, allow_val_change=False, **kw):
        dict.update(self, data or {})


config = _Config()


class _Run:
    id = "fake"
    name = "fake"
    url = "http://wandb.invalid/fake"
    summary = {}

    def log(self, data, **kwargs):
        _write({"log": data})

    def _label(self, **kw):
        pass

    def log_artifact(self, *a, **k):
        pass


def init(**kwargs):
    global run
    run = _Run()
    _write({"init": kwargs})
    return run


def log(data, **kwargs):
    _write({"log": data})


def define_metric(*a, **k):
    pass


def termwarn(*a, **k):
    pass


def watch(*a, **k):
    pass


def finish(*a, **k):
    _write({"finish": True})
"""


def test_report_to_tensorboard(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    pytest.importorskip("tensorboard")
    SFTTrainer().run(quick_sft(tmp_path / "out", report_to=["tensorboard"]), events)
    assert list((tmp_path / "out" / "runs").rglob("events.out.tfevents.*"))


def test_eval_split_and_early_stopping(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    # a threshold no decrease reaches: eval loss never "improves", so patience 1 stops at the second evaluation
    config = quick_sft(
        tmp_path / "out", val_ratio=0.25, eval_steps=1, early_stopping_patience=1, early_stopping_threshold=1e9,
        max_steps=10,
    )  # fmt: skip
    result = SFTTrainer().run(config, events)
    assert result.global_step == 2 and result.metrics["early_stopped_at"] == 2
    assert "eval_loss" in result.metrics
    assert any("eval_loss" in r for r in read_jsonl(tmp_path / "out" / "train_log.jsonl"))


@pytest.mark.parametrize("mode", [{"packing": True}, {"padding_free": True}, {"group_by_length": True}])
def test_packing_and_padding_free_train(tmp_path: Path, events: Any, mode: dict[str, bool], quick_sft: Any) -> None:
    result = SFTTrainer().run(quick_sft(tmp_path / "out", max_length=256, **mode), events)
    assert result.global_step == 4 and result.metrics["last_loss"] < result.metrics["first_loss"]


def test_lora_defaults_by_architecture_and_size(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    from lf_trainer_sft.models import LORA_TARGETS, recommended_lora

    assert (
        LORA_TARGETS["llama"]
        == LORA_TARGETS["mistral"]
        == LORA_TARGETS["qwen2"]
        == ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    assert LORA_TARGETS["gpt2"] == ["c_attn", "c_proj"] and LORA_TARGETS["falcon"] == ["query_key_value", "dense"]
    assert (
        recommended_lora(135_000_000) == (8, 16)
        and recommended_lora(7e9) == (16, 32)
        and recommended_lora(70e9) == (32, 64)
    )
    result = SFTTrainer().run(quick_sft(tmp_path / "out", method="lora", max_steps=2), events)
    adapter = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert adapter["r"] == 8 and adapter["lora_alpha"] == 16
    assert result.artifacts["adapter"] == str(tmp_path / "out")


def test_resume_refused_when_the_data_changed(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    data = tmp_path / "chat.jsonl"
    shutil.copy(CHAT_DATA, data)
    out = tmp_path / "out"
    SFTTrainer().run(quick_sft(out, data=str(data)), events)
    (out / "lf_output.json").unlink()  # as if the run had crashed after its last checkpoint
    with data.open("a") as f:
        f.write(
            json.dumps({"messages": [{"role": "user", "content": "new"}, {"role": "assistant", "content": "x"}]}) + "\n"
        )
    with pytest.raises(ConfigError) as info:
        SFTTrainer().run(quick_sft(out, data=str(data)), events)
    assert "Refusing to resume" in info.value.message and "data: was" in info.value.message


def test_example_configs_are_valid() -> None:
    from lf.runner import resolve
    from lf.testing import isolated_registry

    with isolated_registry(entry_points=True):
        for name, plugin in (("sft-tiny", "sft"), ("pretrain-tiny", "pretrain"), ("sft-smollm2", "sft")):
            _, cfg = resolve("train", plugin, config_file=str(EXAMPLES / f"{name}.yaml"))
            assert cfg is not None


def test_dry_run_names_the_set_argument_field_and_limit() -> None:
    result = run_cli(
        "run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", "--set", "lora.r=0", "--dry-run",
        cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "--set lora.r=0: 'lora.r': expected `int` >= 1, found 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("plugin", "example", "settings", "expected"),
    [
        ("sft", "sft-tiny", ["lora.alpha=0"], "'lora.alpha': expected `int` >= 1"),
        ("sft", "sft-tiny", ["lora.dropout=1"], "'lora.dropout': expected `float` < 1"),
        ("sft", "sft-tiny", ["per_device_train_batch_size=0"], "'per_device_train_batch_size': expected `int` >= 1"),
        ("sft", "sft-tiny", ["gradient_accumulation_steps=0"], "'gradient_accumulation_steps': expected `int` >= 1"),
        ("sft", "sft-tiny", ["learning_rate=0"], "'learning_rate': expected `float` > 0"),
        ("sft", "sft-tiny", ["warmup_ratio=1"], "'warmup_ratio': expected `float` < 1"),
        ("sft", "sft-tiny", ["val_ratio=-0.1"], "'val_ratio': expected `float` >= 0"),
        ("sft", "sft-tiny", ["max_length=4"], "'max_length': expected `int` >= 16"),
        ("sft", "sft-tiny", ["max_steps=0", "num_train_epochs=0"], "Nothing to train"),
        ("sft", "sft-tiny", ["quantization=4bit"], "cannot be combined with method: full"),
        ("sft", "sft-tiny", ["chat_template=missing.jinja"], "chat_template file not found: missing.jinja"),
        ("sft", "sft-tiny", ["model=./no-such-model"], "'model': Model directory not found: ./no-such-model"),
        ("sft", "sft-tiny", ["resume=no/such/checkpoint"], "'resume' must be auto, never or a checkpoint"),
        ("pretrain", "pretrain-tiny", ["block_size=4"], "'block_size': expected `int` >= 8"),
        ("pretrain", "pretrain-tiny", ["save_steps=-1"], "'save_steps': expected `int` >= 0"),
    ],
)
def test_dry_run_refuses_every_bad_value_the_run_would(
    plugin: str, example: str, settings: list[str], expected: str
) -> None:
    args = [a for s in settings for a in ("--set", s)]
    result = run_cli("run", "train", "--plugin", plugin, "--config", f"examples/{example}.yaml", *args, "--dry-run",
                     cwd=REPO)  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert expected in result.stderr and f"--set {settings[0]}" in result.stderr


def test_the_run_makes_the_same_checks_on_a_config_built_in_python(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    from lf_trainer_sft.config import LoraOptions

    # msgspec checks limits only when decoding: the run itself must check a config built in Python
    with pytest.raises(ConfigError, match=r"'lora.r': expected `int` >= 1, found 0"):
        SFTTrainer().run(quick_sft(tmp_path / "out", method="lora", lora=LoraOptions(r=0)), events)
    with pytest.raises(ConfigError, match="'learning_rate': expected `float` > 0"):
        SFTTrainer().run(quick_sft(tmp_path / "out", learning_rate=0.0), events)
    assert not (tmp_path / "out").exists()  # refused before anything was written


# --- a full disk ---------------------------------------------------------------------------------


def _fail_on_call(n: int, exc: BaseException, real: Any) -> Any:
    calls = {"n": 0}

    def writer(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            raise exc
        return real(*args, **kwargs)

    return writer


def test_disk_full_while_checkpointing_is_a_job_error_and_the_last_checkpoint_survives(
    tmp_path: Path, events: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sft_registry: Any
) -> None:
    import errno

    import transformers.modeling_utils as mu

    from lf.cli import main
    from lf_trainer_sft.checkpoints import validate_checkpoint

    out = tmp_path / "out"
    full = OSError(errno.ENOSPC, "No space left on device")
    # the weights of the second checkpoint (step 4) hit a full disk; a full disk cannot be made here
    monkeypatch.setattr(mu, "safe_save_file", _fail_on_call(2, full, mu.safe_save_file))
    sets = [f"output_dir={out}", f"data={CHAT_DATA}", "max_steps=6", "save_steps=2", "plot=false"]
    args = ["run", "train", "--plugin", "sft", "--config", str(EXAMPLES / "sft-tiny.yaml")]
    args += [a for s in sets for a in ("--set", s)]
    with pytest.raises(SystemExit) as info:
        main(args)
    err = " ".join(capsys.readouterr().err.split())
    assert info.value.code == 7, err
    # the console wraps long paths (inside the word when it is wider than the terminal): compare without spaces
    expected = f"No space left on device while writing {out}/checkpoint-4: free space or choose another output_dir"
    unwrapped = "".join(err.split())
    assert "".join(expected.split()) in unwrapped, err
    assert "checkpoint-2(step2),isintact" in unwrapped and "Traceback" not in err and "bug" not in err
    assert validate_checkpoint(out / "checkpoint-2") == [] and not (out / "checkpoint-4").exists()
    assert not (out / "lf_output.json").exists()
    # space freed: the same command resumes from the intact checkpoint and finishes
    monkeypatch.undo()
    from lf.config import build_config
    from lf_trainer_sft.config import SFTConfig

    config = build_config(SFTConfig, file=EXAMPLES / "sft-tiny.yaml", overrides=sets)
    result = SFTTrainer().run(config, events)
    assert result.resumed_from == str(out / "checkpoint-2") and result.global_step == 6


def test_disk_full_while_saving_the_final_model(
    tmp_path: Path, events: Any, monkeypatch: pytest.MonkeyPatch, quick_sft: Any
) -> None:
    import torch

    from lf.errors import RunError

    out = tmp_path / "out"
    # torch drops the errno: its writer says only "file write failed"
    wrapped = RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")  # fmt: skip
    monkeypatch.setattr(torch, "save", _fail_on_call(1, wrapped, torch.save))
    with pytest.raises(RunError) as info:
        SFTTrainer().run(quick_sft(out, save_steps=0), events)
    assert info.value.exit_code == 7
    assert info.value.message == (
        f"No space left on device while writing the final model into {out}: free space or choose another output_dir."
    )
    assert "No complete checkpoint" in (info.value.hint or "")
    assert not (out / ".tmp-final").exists() and not (out / "lf_output.json").exists()


def test_auto_settings_are_resolved_printed_once_and_recorded(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    out = tmp_path / "out"
    config = quick_sft(out, method="lora", learning_rate=None, max_steps=2, val_ratio=0.25)
    assert (config.dtype, config.attn_implementation, config.lora.r, config.resume) == ("auto", None, None, "auto")
    result = SFTTrainer().run(config, events)
    said = [text for _, text in events.messages if text.startswith("settings chosen for this run")]
    assert len(said) == 1
    parts = [
        "device cpu", "dtype auto -> float32", "attn_implementation -> sdpa", "learning_rate -> 0.0002",
        "lora.r -> 8", "lora.alpha -> 16", "lora.target_modules -> k_proj,o_proj,q_proj,v_proj",
        "resume auto -> none (a fresh start)", "eval_steps -> 2", "chat_template -> the tokenizer's",
    ]  # fmt: skip
    assert [p for p in parts if p not in said[0]] == [], said[0]
    expected = {
        "device": "cpu", "dtype": "float32", "mixed_precision": "no", "attn_implementation": "sdpa",
        "learning_rate": 2e-4, "lora.r": 8, "lora.alpha": 16, "model": resolve_model("tiny"),
    }  # fmt: skip
    run_record = json.loads((out / "lf_run.json").read_text())
    assert expected.items() <= run_record["resolved"].items()
    assert run_record["config"]["dtype"] == "auto"  # the config as given stays next to what it became
    assert expected.items() <= json.loads((out / "lf_output.json").read_text())["resolved"].items()
    assert result.artifacts["run_config"] == str(out / "lf_run.json") and "(float32 on cpu)" in result.summary


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["tiny", "examples/data/chat.jsonl", "--max-length", "4"],
            "--max-length 4: 'max_length': expected `int` >= 16",
        ),
        (["./no-model", "examples/data/chat.jsonl"], "the MODEL argument (./no-model): 'model': Model directory not"),
        (["tiny", "examples/data/chat.jsonl", "--no-plot", "--set", "lora.r=0"], "--set lora.r=0: 'lora.r'"),
    ],
)
def test_friendly_command_errors_name_the_flag(args: list[str], expected: str) -> None:
    result = run_cli("train", "sft", *args, "--dry-run", cwd=REPO)
    assert result.returncode == 3, result.stdout + result.stderr
    assert expected in result.stderr
