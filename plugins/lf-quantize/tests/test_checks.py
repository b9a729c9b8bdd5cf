"""Bad input is refused before any heavy work, with a message that says how to fix it."""

from __future__ import annotations

import pytest

import lf_quantize
from lf.testing import check_plugin, run_cli, write_samples
from lf_quantize.calibration import BUNDLED, bundled_calibration_texts, pack, prepare
from lf_quantize.checks import check_group_size
from lf_quantize.engine import ENV_VAR, find_engine_python
from lf_quantize.report import increase_pct, verdict


def test_honours_the_lf_contract():
    assert [spec.name for spec in check_plugin(lf_quantize)] == ["awq", "gptq"]


def test_friendly_commands_take_model_and_output_and_the_main_options():
    for method in ("awq", "gptq"):
        proc = run_cli("quantize", method, "--help")
        assert proc.returncode == 0
        assert f"lf quantize {method} [OPTIONS] [model] [output_dir]" in proc.stdout
        for option in ("--bits", "--group-size", "--calibration-data", "--max-perplexity-increase"):
            assert option in proc.stdout
    assert "--act-order" in run_cli("quantize", "gptq", "--help").stdout
    assert "setup" in run_cli("quantize", "--help").stdout


def _quantize(*args: str, **env: str):
    return run_cli("quantize", *args, env=env)


def test_unknown_architecture(model_copy, tmp_path):
    model = model_copy(model_type="no-such-model", architectures=["NoSuchForCausalLM"])
    proc = _quantize("gptq", str(model), str(tmp_path / "out"))
    assert proc.returncode == 3
    assert "unknown architecture 'NoSuchForCausalLM'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_already_quantized_model(model_copy, tmp_path):
    model = model_copy(quantization_config={"quant_method": "compressed-tensors"}, lf_quantization={"method": "awq"})
    proc = _quantize("awq", str(model), str(tmp_path / "out"))
    assert proc.returncode == 3
    assert "already quantized (awq)" in proc.stderr


def test_missing_model_and_non_model_directories(tmp_path):
    assert _quantize("awq", str(tmp_path / "nope"), str(tmp_path / "out")).returncode == 4
    (tmp_path / "empty").mkdir()
    proc = _quantize("awq", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert proc.returncode == 4 and "no config.json" in proc.stderr


def test_too_little_calibration_data(tiny_model_dir, tmp_path):
    few = tmp_path / "few.txt"
    few.write_text("Hello there.\nThe sky is blue.\n")
    proc = _quantize("gptq", str(tiny_model_dir), str(tmp_path / "out"), "--calibration-data", str(few))
    assert proc.returncode == 4
    assert "Too little calibration data" in proc.stderr and "2 texts" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_group_size_must_divide_the_layers(tiny_model_dir, tmp_path):
    proc = _quantize("awq", str(tiny_model_dir), str(tmp_path / "out"), "--group-size", "48")
    assert proc.returncode == 3
    assert "group_size 48 does not divide" in proc.stderr and "(64, 32)" in proc.stderr
    smollm2 = {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9}
    assert check_group_size(smollm2, None) == 64  # 576 is not a multiple of 128
    assert check_group_size(smollm2, 32) == 32
    assert check_group_size({"hidden_size": 100}, -1) == -1


def test_output_must_not_exist_nor_be_the_model(tiny_model_dir, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    proc = _quantize("awq", str(tiny_model_dir), str(taken))
    assert proc.returncode == 3 and "--overwrite" in proc.stderr
    assert (taken / "keep.txt").read_text() == "mine"
    inside = _quantize("awq", str(tiny_model_dir), str(tiny_model_dir / "q"))
    assert inside.returncode == 3 and "inside" in inside.stderr


def test_bad_options_name_the_field(tiny_model_dir, tmp_path):
    proc = _quantize("awq", str(tiny_model_dir), str(tmp_path / "out"), "--bits", "3")
    assert proc.returncode == 3 and "bits" in proc.stderr
    proc = _quantize("gptq", str(tiny_model_dir), str(tmp_path / "out"), "--set", "damping=2")
    assert proc.returncode == 3 and "damping" in proc.stderr


def test_engine_python_that_does_not_exist(tiny_model_dir, tmp_path):
    proc = _quantize("awq", str(tiny_model_dir), str(tmp_path / "out"), **{ENV_VAR: str(tmp_path / "no-python")})
    assert proc.returncode == 3 and ENV_VAR in proc.stderr
    with pytest.raises(Exception, match="engine_python points at"):
        find_engine_python(str(tmp_path / "missing"))


def test_calibration_packs_texts_into_blocks_and_renders_chat(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    bundled = prepare(None, tokenizer, max_seq_length=128, max_blocks=1000, min_tokens=1)
    assert bundled.source == BUNDLED and bundled.texts == len(bundled_calibration_texts()) > 40
    assert all(len(b) == 128 for b in bundled.blocks[:-1]) and 32 <= len(bundled.blocks[-1]) <= 128
    assert len(pack(["word " * 500], tokenizer, max_seq_length=64, max_blocks=3)) == 3

    chat = write_samples(tmp_path / "chat.jsonl", "sharegpt", 40)
    calib = prepare(str(chat), tokenizer, max_seq_length=64, max_blocks=100, min_tokens=1)
    text = tokenizer.decode(calib.blocks[0])
    assert "<|im_start|>user" in text and "<|im_start|>assistant" in text  # the model's chat template
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(f"Line {i} of plain calibration text." for i in range(50)))
    assert prepare(str(plain), tokenizer, max_seq_length=64, max_blocks=100, min_tokens=1).texts == 50


def test_verdict_and_increase():
    assert increase_pct(10.0, 11.0) == pytest.approx(10.0)
    assert verdict(10.0, 11.0, 10.0) == "pass"
    assert verdict(10.0, 11.01, 10.0) == "warn"
    assert verdict(10.0, 9.0, 0.0) == "pass"


def test_config_show_documents_every_option():
    proc = run_cli("config", "show", "quantize", "gptq")
    assert proc.returncode == 0
    for key in ("model:", "bits: 4", "group_size: null", "act_order: true", "damping: 0.01", "calibration_data:"):
        assert key in proc.stdout
