"""`lf merge lora`: checks before heavy work, a plain merged model, logits equal to base + adapter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lf.testing import run_cli
from lf_trainer_sft.sft import SFTTrainer


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lf.components import NullEvents
    from lf_trainer_sft.config import SFTConfig

    out = tmp_path_factory.mktemp("adapter")
    data = Path(__file__).resolve().parents[3] / "examples" / "data" / "chat.jsonl"
    config = SFTConfig(
        model="tiny", data=str(data), output_dir=str(out), method="lora", learning_rate=5e-2, max_steps=3,
        per_device_train_batch_size=8, max_length=128, logging_steps=1, save_steps=0, plot=False,
    )  # fmt: skip
    SFTTrainer().run(config, NullEvents())
    return out


def test_merge_writes_a_plain_model_whose_logits_match(adapter_dir: Path, tmp_path: Path, tiny_dir: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    result = run_cli("merge", "lora", "tiny", str(adapter_dir), str(out), "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    assert "logits match" in result.stderr
    assert "merged_bytes" in result.stdout and "base_bytes" in result.stdout
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "generation_config.json"):
        assert (out / name).is_file(), name
    assert not (out / "adapter_config.json").exists()
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(out)(ids).logits
        reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), adapter_dir)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_dir)(ids).logits
    assert torch.allclose(merged, reference, atol=1e-4)
    assert not torch.allclose(merged, base, atol=1e-4)  # the adapter did change something


def test_merge_in_bfloat16(adapter_dir: Path, tmp_path: Path) -> None:
    from lf_trainer_sft.merge import merge_lora

    report = merge_lora("tiny", str(adapter_dir), str(tmp_path / "bf16"), dtype="bfloat16")
    config = json.loads((tmp_path / "bf16" / "config.json").read_text())
    assert config["dtype"] == "bfloat16"
    assert report.metrics["merged_bytes"] < report.metrics["base_bytes"]
    assert report.metrics["top1_agreement"] > 0.9


def test_adapter_of_another_base_is_refused_before_loading(adapter_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "wrong"
    result = run_cli("merge", "lora", "tiny-teacher", str(adapter_dir), str(out))
    assert result.returncode == 3
    err = "".join(result.stderr.split())  # rich wraps long lines
    assert "doesnotfit" in err and "k_proj:adapterA.weight[8,64]vsbaseweight[64,128]" in err
    assert not out.exists()


def test_quantized_base_is_refused(adapter_dir: Path, tmp_path: Path, tiny_dir: Path) -> None:
    base = tmp_path / "quantized-base"
    shutil.copytree(tiny_dir, base)
    config = json.loads((base / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (base / "config.json").write_text(json.dumps(config))
    result = run_cli("merge", "lora", str(base), str(adapter_dir), str(tmp_path / "out"))
    assert result.returncode == 3 and "already quantized (bitsandbytes)" in result.stderr


def test_not_an_adapter_and_existing_output(adapter_dir: Path, tmp_path: Path, tiny_dir: Path) -> None:
    result = run_cli("merge", "lora", "tiny", str(tiny_dir), str(tmp_path / "out"))
    assert result.returncode == 3 and "not a LoRA adapter" in result.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep me")
    result = run_cli("merge", "lora", "tiny", str(adapter_dir), str(tmp_path / "taken"))
    assert result.returncode == 3 and "exists and is not empty" in result.stderr
    assert (tmp_path / "taken" / "x").read_text() == "keep me"


def test_merge_true_in_the_sft_config(tmp_path: Path, events: Any, quick_sft: Any) -> None:
    result = SFTTrainer().run(quick_sft(tmp_path / "out", method="lora", max_steps=2, merge=True), events)
    merged = tmp_path / "out" / "merged"
    assert result.artifacts["merged"] == str(merged)
    assert (merged / "model.safetensors").is_file() and (merged / "chat_template.jinja").is_file()
    assert result.metrics["merge_relative_logit_diff"] < 1e-4
