"""distill: the loss formula, a frozen teacher, feature distillation, vocabulary checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lf_trainer_distill
from lf.components import NullEvents
from lf.errors import ConfigError
from lf.testing import check_plugin, run_cli
from lf_trainer_distill.config import DistillConfig
from lf_trainer_distill.distill import DistillTrainer, distillation_loss

REPO = Path(__file__).resolve().parents[3]
CHAT = REPO / "examples" / "data" / "chat.jsonl"
TEXT = REPO / "examples" / "data" / "text.jsonl"


def quick(out: Path, **overrides: Any) -> DistillConfig:
    values: dict[str, Any] = {
        "model": "tiny",
        "teacher": "tiny-teacher",
        "data": str(CHAT),
        "output_dir": str(out),
        "learning_rate": 3e-3,
        "lr_scheduler_type": "constant",
        "warmup_ratio": 0.0,
        "max_steps": 3,
        "per_device_train_batch_size": 8,
        "max_length": 96,
        "logging_steps": 1,
        "save_steps": 2,
        "plot": False,
    }
    values.update(overrides)
    return DistillConfig(**values)


def test_contract() -> None:
    assert [s.name for s in check_plugin(lf_trainer_distill)] == ["distill"]


def test_loss_is_alpha_kl_t2_plus_one_minus_alpha_ce() -> None:
    import torch
    import torch.nn.functional as nnf

    torch.manual_seed(0)
    s, t = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    labels = torch.randint(0, 11, (2, 5))
    labels[0, :3] = -100
    T, alpha = 3.0, 0.3
    loss, kl, ce = distillation_loss(s, t, labels, temperature=T, alpha=alpha)
    mask = labels[:, 1:] != -100
    sm, tm, y = s[:, :-1][mask], t[:, :-1][mask], labels[:, 1:][mask]
    p_t = nnf.softmax(tm / T, -1)
    expected_kl = (p_t * (nnf.log_softmax(tm / T, -1) - nnf.log_softmax(sm / T, -1))).sum(-1).mean() * T * T
    expected_ce = nnf.cross_entropy(sm, y)
    assert torch.allclose(kl, expected_kl, atol=1e-5) and torch.allclose(ce, expected_ce, atol=1e-5)
    assert torch.allclose(loss, alpha * expected_kl + (1 - alpha) * expected_ce, atol=1e-5)
    same, kl_same, _ = distillation_loss(t, t, labels, temperature=T, alpha=1.0)
    assert float(kl_same) == pytest.approx(0.0, abs=1e-6) and float(same) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_distill_tiny_example_as_written(tmp_path: Path) -> None:
    out = tmp_path / "distill"
    args = (
        "run",
        "train",
        "--plugin",
        "distill",
        "--config",
        "examples/distill-tiny.yaml",
        "--set",
        f"output_dir={out}",
    )
    result = run_cli(*args, cwd=REPO)
    assert result.returncode == 0, result.stderr
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0]
    assert {"kl", "ce", "hidden_mse"} <= set([r for r in log if "loss" in r][-1])
    from transformers import AutoModelForCausalLM

    student = AutoModelForCausalLM.from_pretrained(out)  # the student, without projection weights
    assert student.config.num_hidden_layers == 2


def test_teacher_stays_frozen_and_projection_is_checkpointed(tmp_path: Path) -> None:
    import torch

    job = DistillTrainer()
    result = job.run(quick(tmp_path / "out", hidden_layers=[(1, 2), (2, 4)], hidden_weight=0.5), NullEvents())
    assert result.global_step == 3
    assert not job.teacher.training and not any(p.requires_grad for p in job.teacher.parameters())
    from lf_trainer_sft.models import load_model

    original = load_model(job.teacher_path)
    for (name, p), (_, q) in zip(job.teacher.named_parameters(), original.named_parameters(), strict=True):
        assert torch.equal(p.cpu(), q), name  # not one teacher weight moved
    assert len(job.projections) == 2 and job.projections[0].weight.shape == (128, 64)
    assert (tmp_path / "out" / "checkpoint-2" / "distill_projections.safetensors").is_file()
    assert result.metrics["last_hidden_mse"] < result.metrics["first_hidden_mse"]
    from lf.models import resolve_model

    resolved = json.loads((tmp_path / "out" / "lf_run.json").read_text())["resolved"]
    assert resolved["teacher"] == resolve_model("tiny-teacher") and resolved["data_shape"] == "chat"


def test_text_data_distills_every_token(tmp_path: Path) -> None:
    result = DistillTrainer().run(quick(tmp_path / "out", data=str(TEXT), alpha=1.0), NullEvents())
    assert result.global_step == 3 and result.metrics["last_loss"] < result.metrics["first_loss"]


def test_different_vocabularies_are_refused_before_loading(tmp_path: Path) -> None:
    from lf.testing import tiny_model

    other = tiny_model(tmp_path / "other-vocab", vocab_size=300)
    with pytest.raises(ConfigError, match="vocabularies differ") as info:
        DistillTrainer().run(quick(tmp_path / "out", teacher=str(other)), NullEvents())
    assert "tokens" in info.value.message


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alpha"):
        DistillTrainer().run(quick(tmp_path / "a", alpha=1.5), NullEvents())
    with pytest.raises(ConfigError, match="out of range"):
        DistillTrainer().run(quick(tmp_path / "b", hidden_layers=[(9, 1)]), NullEvents())
    result = run_cli("run", "train", "--plugin", "distill", "--set", "model=tiny", "--set", "data=x.jsonl")
    assert result.returncode == 3 and "'teacher' is required" in result.stderr


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (["alpha=1.5"], "'alpha': expected `float` <= 1"),
        (["temperature=0"], "'temperature': expected `float` > 0"),
        (["hidden_weight=-1"], "'hidden_weight': expected `float` >= 0"),
        (["hidden_layers=[[-1, 2]]"], "'hidden_layers.0.0': expected `int` >= 0"),
        (["teacher=/no/such/teacher"], "'teacher': Model directory not found"),
        (["gradient_accumulation_steps=0"], "'gradient_accumulation_steps': expected `int` >= 1"),
    ],
)
def test_dry_run_refuses_every_bad_value_the_run_would(settings: list[str], expected: str) -> None:
    args = [a for s in settings for a in ("--set", s)]
    result = run_cli("run", "train", "--plugin", "distill", "--config", "examples/distill-tiny.yaml", *args,
                     "--dry-run", cwd=REPO)  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert expected in result.stderr and f"--set {settings[0]}" in result.stderr
