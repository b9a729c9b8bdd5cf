"""dpo and orpo on the tiny model: losses, references, starting from an SFT output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lf_trainer_dpo
from lf.components import NullEvents
from lf.errors import ConfigError
from lf.models import resolve_model
from lf.testing import check_plugin, run_cli
from lf_trainer_dpo.config import DPOConfig, ORPOConfig
from lf_trainer_dpo.dpo import DPOTrainer, ORPOTrainer

REPO = Path(__file__).resolve().parents[3]
PREFS = REPO / "examples" / "data" / "preferences.jsonl"
CHAT = REPO / "examples" / "data" / "chat.jsonl"


def quick(cls: Any, out: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "model": "tiny",
        "data": str(PREFS),
        "output_dir": str(out),
        "method": "lora",
        "learning_rate": 5e-3,
        "lr_scheduler_type": "constant",
        "warmup_ratio": 0.0,
        "max_steps": 3,
        "per_device_train_batch_size": 8,
        "max_length": 96,
        "logging_steps": 1,
        "save_steps": 0,
        "plot": False,
    }
    values.update(overrides)
    return cls(**values)


def test_contract() -> None:
    assert [s.name for s in check_plugin(lf_trainer_dpo)] == ["dpo", "orpo"]


@pytest.mark.slow
def test_dpo_tiny_example_as_written(tmp_path: Path) -> None:
    out = tmp_path / "dpo"
    result = run_cli(
        "run", "train", "--plugin", "dpo", "--config", "examples/dpo-tiny.yaml", "--set", f"output_dir={out}", cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0]
    last = [r for r in log if "loss" in r][-1]
    assert {"rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected"} <= set(last)
    assert (out / "adapter_model.safetensors").is_file() and (out / "chat_template.jinja").is_file()
    from peft import AutoPeftModelForCausalLM

    assert AutoPeftModelForCausalLM.from_pretrained(out) is not None  # reloads


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lf_trainer_sft.config import SFTConfig
    from lf_trainer_sft.sft import SFTTrainer

    out = tmp_path_factory.mktemp("sft")
    SFTTrainer().run(
        SFTConfig(model="tiny", data=str(CHAT), output_dir=str(out), method="lora", learning_rate=5e-2,
                  max_steps=2, per_device_train_batch_size=8, max_length=96, save_steps=0, plot=False, merge=True),
        NullEvents(),
    )  # fmt: skip
    return out


@pytest.mark.slow
@pytest.mark.parametrize("start", ["adapter", "merged"])
def test_dpo_from_an_sft_output(sft_adapter: Path, tmp_path: Path, start: str) -> None:
    model = sft_adapter if start == "adapter" else sft_adapter / "merged"
    result = DPOTrainer().run(quick(DPOConfig, tmp_path / "out", model=str(model)), NullEvents())
    assert result.global_step == 3
    assert 0.0 <= result.metrics["reward_accuracy"] <= 1.0 and "reward_margin" in result.metrics
    assert result.metrics["first_loss"] == pytest.approx(0.6931, abs=1e-3)  # log(2): policy == reference at step 0


@pytest.mark.parametrize(
    ("options", "first_loss"),
    [
        ({"loss_type": "hinge"}, 1.0),  # relu(1 - beta * 0) with policy == reference
        ({"loss_type": "ipo"}, 25.0),  # (0 - 1 / (2 * beta))^2 with beta 0.1
        ({"label_smoothing": 0.1}, 0.6931),  # robust DPO: log(2) at the start too
        ({"method": "full", "learning_rate": 1e-3}, 0.6931),  # frozen copy of the start as reference
        ({"ref_model": "tiny"}, 0.6931),  # a separate reference equal to the start
        ({"reference_free": True, "learning_rate": 1e-4}, None),  # rewards are the policy's own log-probs
    ],
)
def test_dpo_losses_and_references(tmp_path: Path, options: dict[str, Any], first_loss: float | None) -> None:
    result = DPOTrainer().run(quick(DPOConfig, tmp_path / "out", max_steps=1, **options), NullEvents())
    assert result.global_step == 1 and "reward_accuracy" in result.metrics
    # the reference, left to the method unless ref_model names one, is recorded with the other settings
    reference = json.loads((tmp_path / "out" / "lf_run.json").read_text())["resolved"]["ref_model"]
    if options.get("reference_free"):
        assert reference == "none (reference_free)"
    elif "ref_model" in options:
        assert reference == resolve_model("tiny")
    else:
        full = options.get("method") == "full"
        assert reference == (
            "a frozen copy of the starting policy" if full else "the starting policy (the adapter disabled)"
        )
    if first_loss is None:
        assert result.metrics["first_loss"] != pytest.approx(0.6931, abs=1e-3)
    else:
        assert result.metrics["first_loss"] == pytest.approx(first_loss, rel=1e-3)


def test_invalid_dpo_options_are_refused_before_loading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sigmoid loss only"):
        DPOTrainer().run(quick(DPOConfig, tmp_path / "a", loss_type="hinge", label_smoothing=0.1), NullEvents())
    with pytest.raises(ConfigError, match="exclude each other"):
        DPOTrainer().run(quick(DPOConfig, tmp_path / "b", reference_free=True, ref_model="tiny"), NullEvents())
    with pytest.raises(ConfigError, match="beta"):
        DPOTrainer().run(quick(DPOConfig, tmp_path / "c", beta=0), NullEvents())


class Messages(NullEvents):
    """Keeps the messages a run sends (level, text)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def message(self, text: str, level: str = "info") -> None:
        self.seen.append((level, text))


def test_prompts_are_cut_from_the_left_with_one_warning(tmp_path: Path) -> None:
    from datasets import Dataset

    from lf_trainer_dpo.truncation import truncate_pairs

    pairs = Dataset.from_dict(
        {"prompt_ids": [[1, 2, 3, 4, 5, 6], [7, 8]], "chosen_ids": [[9, 10, 11], [12]], "rejected_ids": [[13], [14]]}
    )
    cut, count = truncate_pairs(pairs, 4, 2)
    assert count == 1
    assert cut["prompt_ids"] == [[3, 4, 5, 6], [7, 8]]  # the end of the prompt, next to the reply, is kept
    assert cut["chosen_ids"] == [[9, 10], [12]] and cut["rejected_ids"] == [[13], [14]]

    events = Messages()
    limits = {"max_prompt_length": 6, "max_completion_length": 40}
    result = DPOTrainer().run(quick(DPOConfig, tmp_path / "out", max_steps=1, **limits), events)
    assert result.global_step == 1
    warnings = [text for level, text in events.seen if level == "warning" and "truncated" in text]
    assert warnings == [
        "train: 40 of 40 preference pairs were truncated to max_prompt_length=6, max_completion_length=40 "
        "(prompts keep their last tokens, replies their first); raise the limits to keep them whole"
    ]
    resolved = json.loads((tmp_path / "out" / "lf_run.json").read_text())["resolved"]
    assert resolved["max_prompt_length"] == 6


def test_orpo_trains(tmp_path: Path) -> None:
    result = ORPOTrainer().run(quick(ORPOConfig, tmp_path / "out", learning_rate=1e-2), NullEvents())
    assert result.global_step == 3 and result.metrics["last_loss"] < result.metrics["first_loss"]
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def test_chat_data_is_refused_for_dpo(tmp_path: Path) -> None:
    from lf.errors import DataError

    with pytest.raises(DataError):
        DPOTrainer().run(quick(DPOConfig, tmp_path / "out", data=str(CHAT), model="nobody/no-such-model"), NullEvents())


@pytest.mark.parametrize(
    ("plugin", "settings", "expected"),
    [
        ("dpo", ["beta=0"], "'beta': expected `float` > 0"),
        ("dpo", ["label_smoothing=0.5"], "'label_smoothing': expected `float` < 0.5"),
        ("dpo", ["loss_type=hinge", "label_smoothing=0.1"], "label_smoothing applies to the sigmoid loss only"),
        ("dpo", ["ref_model=tiny2"], "Did you mean 'tiny'?"),
        ("dpo", ["per_device_train_batch_size=0"], "'per_device_train_batch_size': expected `int` >= 1"),
        ("dpo", ["max_prompt_length=128"], "max_prompt_length (128) must be below max_length (128)"),
        ("orpo", ["beta=-1"], "'beta': expected `float` > 0"),
        ("orpo", ["lora.r=0"], "'lora.r': expected `int` >= 1"),
        ("orpo", ["max_length=8"], "'max_length': expected `int` >= 16"),
    ],
)
def test_dry_run_refuses_every_bad_value_the_run_would(plugin: str, settings: list[str], expected: str) -> None:
    # dpo starts from its example; orpo (which has no loss_type) from the bare minimum
    start = (
        ["--config", "examples/dpo-tiny.yaml"] if plugin == "dpo" else ["--set", "model=tiny", "--set", f"data={PREFS}"]
    )
    args = [a for s in settings for a in ("--set", s)]
    result = run_cli("run", "train", "--plugin", plugin, *start, *args, "--dry-run", cwd=REPO)
    assert result.returncode == 3, result.stdout + result.stderr
    assert expected in result.stderr and f"--set {settings[0]}" in result.stderr
