"""Crash and resume, and two training processes (torchrun, gloo on the CPU), through the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lf.testing import run_cli
from lf.testing.cli import lf_executable
from lf_trainer_sft.checkpoints import MARKER, list_checkpoints, validate_checkpoint

REPO = Path(__file__).resolve().parents[3]


def log_steps(out: Path) -> list[int]:
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if "loss" in json.loads(line)]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_auto(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", "--set", f"output_dir={out}"]
    args += ["--set", "save_steps=3", "--set", "logging_steps=1", "--set", "save_total_limit=2"]
    proc = subprocess.Popen(
        [lf_executable(), *args, "--set", "max_steps=500"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            done = [step for step, path in list_checkpoints(out) if (path / MARKER).exists()]
            if done and max(done) >= 6:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (out / "lf_output.json").exists()
    valid = [step for step, path in list_checkpoints(out) if not validate_checkpoint(path)]
    last = max(valid)
    assert last >= 6

    result = run_cli(*args, "--set", f"max_steps={last + 3}", "--set", "resume=auto", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert f"resuming from {out / f'checkpoint-{last}'}" in " ".join(result.stderr.split())
    finished = json.loads((out / "lf_output.json").read_text())
    assert finished["global_step"] == last + 3
    steps = log_steps(out)
    assert steps == sorted(set(steps)) and steps[-1] == last + 3  # the log continues without repeats
    assert [s for s, _ in list_checkpoints(out)] == [last + 3, last]  # keep the last 2


@pytest.mark.slow
def test_two_processes_on_cpu_both_step_and_rank0_alone_writes(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    result = run_cli(
        "run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", "--nproc", "2",
        "--set", f"output_dir={out}", "--set", "max_steps=4", "--set", "save_steps=2", "--set", "logging_steps=1",
        cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "lf rank 0/2: 4 optimizer steps" in result.stderr
    assert "lf rank 1/2: 4 optimizer steps" in result.stderr
    reports = [line for line in result.stderr.splitlines() if line.startswith("lf rank")]
    digests = {line.rsplit("weights sha256:", 1)[1] for line in reports}
    assert len(digests) == 1, result.stderr  # gradients averaged: both ranks hold the weights rank 0 saves
    for step in (2, 4):
        marker = json.loads((out / f"checkpoint-{step}" / MARKER).read_text())
        assert marker["world_size"] == 2 and marker["written_by_rank"] == 0
        assert "model.safetensors" in marker["files"]
    assert log_steps(out) == [1, 2, 3, 4]  # one writer: each step logged once
    assert result.stdout.count("global_step") == 1  # rank 0 alone prints the summary


@pytest.mark.slow
def test_smollm2_lora_example_and_merged_model_still_chats(tmp_path: Path, smollm2_dir: Path) -> None:
    out = tmp_path / "smollm2"
    result = run_cli(
        "run", "train", "--plugin", "sft", "--config", "examples/sft-smollm2.yaml", "--set", f"output_dir={out}",
        "--set", "max_steps=2", "--set", "per_device_train_batch_size=1", "--set", "save_steps=0",
        cwd=REPO, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    merged = out / "merged"
    assert (merged / "model.safetensors").is_file() and (out / "adapter_model.safetensors").is_file()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    generated = model.generate(**ids, max_new_tokens=24, do_sample=False)[0][ids["input_ids"].shape[1] :]
    reply = tok.decode(generated, skip_special_tokens=False)
    assert "Paris" in reply and reply.endswith("<|im_end|>"), reply  # answers, and stops


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_qlora_4bit_on_cuda(tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    result = run_cli(
        "run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", "--set", f"output_dir={tmp_path}",
        "--set", "method=lora", "--set", "quantization=4bit", "--set", "max_steps=3", cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "adapter_model.safetensors").is_file()
