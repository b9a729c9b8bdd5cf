"""The tiny model quantized for real with both methods on the CPU; the output loads, generates and is reported on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import lf_quantize
from lf.components import QuantizeResult
from lf.runner import run_component
from lf.testing import isolated_registry, run_cli, write_samples
from lf.testing.cli import lf_executable, signals_as_from_a_shell


class Recorder:
    """An Events sink that keeps everything."""

    def __init__(self) -> None:
        self.progress_calls: list[tuple[str, float, float | None]] = []
        self.messages: list[tuple[str, str]] = []
        self.artifacts: dict[str, str] = {}
        self.last_metrics: dict[str, float] = {}

    def progress(self, description, completed, total=None, **fields):
        self.progress_calls.append((description, completed, total))

    def metrics(self, values, step=None):
        self.last_metrics.update(values)

    def message(self, text, level="info"):
        self.messages.append((level, text))

    def artifact(self, name, path):
        self.artifacts[name] = path


def _loads_and_generates(out: Path) -> str:
    """The real loading path a server uses: transformers (+ compressed-tensors) on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.device.type == "cpu"
    messages = [{"role": "user", "content": "What is two plus two?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False, min_new_tokens=8)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 8
    return tokenizer.decode(output[0])


def _check_report(out: Path, method: str, bits: int) -> dict:
    report = json.loads((out / "quantize_report.json").read_text())
    assert report["method"] == method and report["bits"] == bits
    assert report["size_after_bytes"] == sum(
        f.stat().st_size for f in out.iterdir() if f.is_file() and f.name != "quantize_report.json"
    )
    assert report["compression_ratio"] == pytest.approx(report["size_before_bytes"] / report["size_after_bytes"], 1e-3)
    assert report["weights_after_bytes"] < report["weights_before_bytes"]
    assert report["perplexity_before"] > 1 and report["perplexity_after"] > 1
    assert report["perplexity_after"] != report["perplexity_before"]  # the weights really changed
    expected = (report["perplexity_after"] / report["perplexity_before"] - 1) * 100
    assert report["perplexity_increase_pct"] == pytest.approx(expected, abs=1e-3)
    assert report["verdict"] == ("pass" if expected <= report["max_perplexity_increase_pct"] else "warn")
    assert report["library"].startswith("llm-compressor ")
    return report


def _check_config(out: Path, method: str, bits: int, group_size: int) -> dict:
    config = json.loads((out / "config.json").read_text())
    q = config["quantization_config"]
    assert q["quant_method"] == "compressed-tensors" and q["format"] == "pack-quantized"
    weights = q["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["group_size"]) == (bits, group_size)
    assert config["lf_quantization"]["method"] == method
    assert (out / "tokenizer.json").exists() and (out / "chat_template.jinja").exists()
    return weights


@pytest.mark.slow
def test_awq_4bit_with_the_friendly_command(engine_python, tiny_model_dir, tmp_path):
    out = tmp_path / "tiny-awq"
    proc = run_cli(
        "quantize",
        "awq",
        str(tiny_model_dir),
        str(out),
        "--bits",
        "4",
        "--group-size",
        "32",
        "--num-calibration-samples",
        "16",
        "--max-seq-length",
        "256",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "quantizing layers" in proc.stderr  # the progress bar over layers
    assert "compression_ratio" in proc.stdout and "verdict" in proc.stdout
    report = _check_report(out, "awq", 4)
    assert report["compression_ratio"] > 1.8  # float32 -> 4-bit linears (the tied embedding stays float32)
    weights = _check_config(out, "awq", 4, 32)
    assert weights["symmetric"] is False  # AWQ's usual asymmetric scheme, with zero points
    assert "AWQModifier" in (out / "recipe.yaml").read_text()
    _loads_and_generates(out)
    assert not list(tmp_path.glob(".tmp-*"))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not the private mode of a temporary directory
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.slow
def test_gptq_8bit_with_lf_run_a_config_file_and_our_data_formats(engine_python, tiny_model_dir, tmp_path):
    calib = write_samples(tmp_path / "calib.jsonl", "alpaca", 200)
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n\n".join(f"Held-out paragraph {i}: the river runs to the sea." for i in range(30)))
    out = tmp_path / "tiny-gptq"
    config = tmp_path / "q.yaml"
    config.write_text(
        f"model: {tiny_model_dir}\noutput_dir: {out}\nbits: 8\ngroup_size: -1\nact_order: false\ndamping: 0.05\n"
        f"calibration_data: {calib}\nmax_seq_length: 128\nnum_calibration_samples: 24\n"
        "min_calibration_tokens: 512\n"
        f"eval_data: {heldout}\neval_max_length: 64\nmax_perplexity_increase: 0.0\n"
    )
    proc = run_cli("run", "quantize", "--plugin", "gptq", "--config", str(config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = _check_report(out, "gptq", 8)
    assert report["calibration_data"] == str(calib) and report["eval_data"] == str(heldout)
    assert report["group_size"] == -1
    config_json = json.loads((out / "config.json").read_text())
    weights = config_json["quantization_config"]["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["strategy"], weights["actorder"]) == (8, "channel", None)
    assert "dampening_frac: 0.05" in (out / "recipe.yaml").read_text()
    if report["perplexity_increase_pct"] > 0:  # a zero limit warns on any increase
        assert report["verdict"] == "warn" and "quality check: gptq 8-bit" in proc.stderr
    _loads_and_generates(out)


@pytest.mark.slow
def test_gptq_4bit_python_api_reports_layers_and_returns_a_quantize_result(engine_python, tiny_model_dir, tmp_path):
    out = tmp_path / "tiny-gptq4"
    events = Recorder()
    with isolated_registry(lf_quantize):
        result = run_component(
            "quantize",
            "gptq",
            data={
                "model": str(tiny_model_dir),
                "output_dir": str(out),
                "max_seq_length": 128,
                "num_calibration_samples": 24,
            },
            events=events,
        )
    assert isinstance(result, QuantizeResult)
    assert result.output_dir == str(out) and result.verdict in ("pass", "warn")
    assert result.metrics["compression_ratio"] > 1.8
    assert result.metrics["perplexity_before"] != result.metrics["perplexity_after"]
    assert result.artifacts == {"model": str(out), "report": str(out / "quantize_report.json")}
    layers = [(done, total) for name, done, total in events.progress_calls if name == "quantizing layers"]
    assert layers[0] == (0, 3) and layers[-1] == (3, 3)  # 2 decoder layers + the head, one step each
    assert {"perplexity before", "perplexity after"} <= {name for name, _, _ in events.progress_calls}
    assert events.last_metrics["compression_ratio"] == result.metrics["compression_ratio"]
    weights = _check_config(out, "gptq", 4, 64)  # group size chosen: 128 does not divide 64
    assert weights["symmetric"] is True and weights["actorder"] == "static"  # act_order is on by default
    assert result.summary.startswith("gptq 4-bit: ") and "x smaller" in result.summary


@pytest.mark.slow
def test_awq_refuses_an_architecture_it_cannot_balance(engine_python, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from lf.testing import build_tokenizer

    model_dir = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_embd=64, n_layer=1, n_head=2, vocab_size=515)).save_pretrained(model_dir)
    build_tokenizer().save_pretrained(model_dir)
    out = tmp_path / "out"
    proc = run_cli("quantize", "awq", str(model_dir), str(out), "--group-size", "32")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "AWQ does not know the architecture GPT2LMHeadModel" in proc.stderr
    assert "lf quantize gptq" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))
    assert (tmp_path / "out.quantize.log").exists()  # the engine's log is kept beside, for a bug report


@pytest.mark.slow
def test_an_interrupted_quantization_leaves_nothing_that_looks_valid(engine_python, tiny_model_dir, tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [lf_executable(), "quantize", "gptq", str(tiny_model_dir), str(out), "--num-calibration-samples", "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=signals_as_from_a_shell,
    )
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob(".tmp-interrupted-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    staging = next(tmp_path.glob(".tmp-interrupted-*"))
    time.sleep(3)  # the engine is starting or working inside the staging directory
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    assert not out.exists()
    assert not staging.exists()
    time.sleep(2)  # the engine was stopped: nothing recreates the output afterwards
    assert sorted(p.name for p in tmp_path.iterdir()) == []
