"""The KTO plugin honours the contract and really trains."""

from __future__ import annotations

import lf_trainer_kto
from lf_trainer_kto.trainer import unpair

from lf.runner import run_component
from lf.testing import check_plugin, isolated_registry, write_samples


def test_contract():
    assert [s.name for s in check_plugin(lf_trainer_kto)] == ["kto"]


def test_pairs_become_desirable_and_undesirable_examples():
    rows = [{"prompt": [{"role": "user", "content": "q"}], "chosen": ["good"], "rejected": ["bad"]}]
    assert unpair(rows) == {
        "prompt": [[{"role": "user", "content": "q"}]] * 2,
        "completion": [["good"], ["bad"]],
        "label": [True, False],
    }


def test_trains_a_tiny_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    data = write_samples(tmp_path / "prefs.jsonl", "dpo", 8)
    with isolated_registry(lf_trainer_kto):
        result = run_component(
            "train",
            "kto",
            data={"model": str(tiny_model_dir), "data": str(data), "output_dir": str(tmp_path / "out")},
            overrides=["max_steps=3", "learning_rate=1e-4", "max_length=64"],
        )
    assert result.global_step == 3 and "last_loss" in result.metrics
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "out").config.num_hidden_layers == 2
