"""The issue's "done when", through the real `lf` command against an `lf` server on 127.0.0.1.

* 200 instruction records and 50 preference pairs from the tiny model's server, with the
  summary; both files pass `lf data validate` and train with `lf run train --plugin sft|dpo`;
* a generation killed with SIGKILL mid-way, re-run, has no duplicates and no gaps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from lf.testing import run_cli
from lf.testing.cli import lf_executable

REPO = Path(__file__).resolve().parents[3]

TOPICS = ["tides", "gravity", "volcanoes", "bees", "maps", "bread", "rain", "stars", "rivers", "glass"]
TOPICS += ["clocks", "salt", "wind", "moss", "ice", "sand", "paper", "iron", "owls", "fog"]
FORMS = ["a haiku", "a limerick", "one sentence", "a riddle", "a tweet", "a slogan", "a fact", "a question"]
FORMS += ["a headline", "a toast"]


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def generated(tiny_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run both generators through the CLI once; the tests below check what they made."""
    tmp = tmp_path_factory.mktemp("done-when")
    common = {
        "teacher": {"base_url": f"{tiny_url}/v1", "model": "tiny"},
        "max_tokens": 16,
        "min_length": 1,  # the tiny model's noise is sometimes short; content does not matter here
        "concurrency": 16,
    }
    sft_config = write_yaml(
        tmp / "sft.yaml",
        {
            **common,
            "output": str(tmp / "sft.jsonl"),
            "templates": ["Write {form} about {topic}.", "Explain {topic} as {form}."],
            "variables": {"form": FORMS, "topic": TOPICS},  # 400 prompts: a few answers may be filtered
            "system_prompt": "You are a helpful writer.",
            "temperature": 0.8,
            "max_records": 200,
        },
    )
    sft = run_cli("run", "generate", "--plugin", "synthetic", "--config", str(sft_config))
    dpo_config = write_yaml(
        tmp / "dpo.yaml",
        {
            **common,
            "output": str(tmp / "dpo.jsonl"),
            "templates": ["Tell me about {topic}, in {form}."],
            "variables": {"form": FORMS[:3], "topic": TOPICS},  # 60 prompts for 50 pairs
            "temperatures": [0.3, 0.8, 1.3],
            "max_records": 50,
        },
    )
    dpo = run_cli("generate", "preferences", "--config", str(dpo_config))
    return {"tmp": tmp, "sft": sft, "dpo": dpo, "sft_out": tmp / "sft.jsonl", "dpo_out": tmp / "dpo.jsonl"}


def test_200_records_and_50_pairs_with_the_summary_and_valid_files(generated: dict[str, Any]) -> None:
    sft, dpo = generated["sft"], generated["dpo"]
    assert sft.returncode == 0, sft.stderr
    assert dpo.returncode == 0, dpo.stderr
    # the summary of each run (print_result's table on stdout)
    sft_text, dpo_text = " ".join(sft.stdout.split()), " ".join(dpo.stdout.split())
    assert "summary 200 records in" in sft_text and "metrics.records_written 200 " in sft_text
    for counter in ("failed", "filtered_min_length", "filtered_refusal", "duplicates_exact", "duplicates_near"):
        assert f"metrics.{counter} " in sft_text
    assert "summary 50 pairs in" in dpo_text and "metrics.records_written 50 " in dpo_text
    assert "metrics.dropped_identical " in dpo_text and "metrics.dropped_tie " in dpo_text
    records = read_jsonl(generated["sft_out"])
    assert len(records) == 200 and len({r["instruction"] for r in records}) == 200
    assert all(r["system"] == "You are a helpful writer." for r in records)
    pairs = read_jsonl(generated["dpo_out"])
    assert len(pairs) == 50 and all(p["chosen"] != p["rejected"] for p in pairs)
    for path, fmt, n in ((generated["sft_out"], "alpaca", 200), (generated["dpo_out"], "dpo", 50)):
        check = run_cli("data", "validate", str(path), "--json")
        assert check.returncode == 0, check.stdout + check.stderr
        report = json.loads(check.stdout)
        assert (report["format"], report["valid"], report["invalid"]) == (fmt, n, 0)


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["sft", "dpo"])
def test_the_generated_data_trains(generated: dict[str, Any], trainer: str) -> None:
    tmp: Path = generated["tmp"]
    data = generated["sft_out"] if trainer == "sft" else generated["dpo_out"]
    config = {
        "model": "tiny",
        "data": str(data),
        "output_dir": str(tmp / f"train-{trainer}"),
        "method": "full" if trainer == "sft" else "lora",
        "learning_rate": 1e-3,
        "max_steps": 2,
        "per_device_train_batch_size": 8,
        "max_length": 64,
        "logging_steps": 1,
        "save_steps": 0,
        "plot": False,
    }
    config_file = write_yaml(tmp / f"{trainer}-train.yaml", config)
    result = run_cli("run", "train", "--plugin", trainer, "--config", str(config_file))
    assert result.returncode == 0, result.stderr[-3000:]
    log = read_jsonl(tmp / f"train-{trainer}" / "train_log.jsonl")
    assert [r["loss"] for r in log if "loss" in r], log


def test_killed_generation_resumes_without_duplicates_or_gaps(slow_echo_url: str, tmp_path: Path) -> None:
    prompts = [f"Prompt number {i} asks about the topic {i * 7 % 13} in some detail" for i in range(120)]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    out = tmp_path / "data.jsonl"
    config = write_yaml(
        tmp_path / "gen.yaml",
        {
            "output": str(out),
            "teacher": {"base_url": slow_echo_url},
            "prompts_file": str(tmp_path / "prompts.txt"),
            "concurrency": 4,
            "near_duplicate_threshold": None,  # the prompts are alike on purpose; keep every one
        },
    )
    proc = subprocess.Popen(
        [lf_executable(), "generate", "data", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 25:
            break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()
    done_before = out.read_bytes().count(b"\n")
    assert 25 <= done_before < len(prompts), "the run should have been killed mid-way"
    with open(out, "ab") as handle:  # as if it had died in the middle of a write, too
        handle.write(b'{"instruction": "Prompt number 99 asks ab')
    rerun = run_cli("generate", "data", "--config", str(config))
    assert rerun.returncode == 0, rerun.stderr
    assert "repaired" in rerun.stderr
    records = read_jsonl(out)
    instructions = [r["instruction"] for r in records]
    assert len(instructions) == len(set(instructions)) == len(prompts)  # no duplicates
    assert set(instructions) == set(prompts)  # no gaps
    assert all(r["output"].strip() == r["instruction"] for r in records)  # each record whole
    journal = read_jsonl(Path(f"{out}.journal.jsonl"))[1:]
    assert len(journal) == len({e["key"] for e in journal}) == len(prompts)
    final = run_cli("generate", "data", "--config", str(config))  # nothing left: no request at all
    assert final.returncode == 0 and "metrics.resumed 120 " in " ".join(final.stdout.split())


@pytest.mark.slow
def test_the_smollm2_data_example_as_written(smollm2_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "run", "generate", "--plugin", "synthetic", "--config", str(REPO / "examples" / "generate-smollm2.yaml"),
        "--set", f"output={out}", "--set", "max_prompts=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out)
    assert len(records) == 2 and all("tide" in r["output"].lower() for r in records)  # the real model answers
    check = run_cli("data", "validate", str(out), "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["format"] == "alpaca"


def test_the_preferences_example_is_a_valid_config() -> None:
    example = REPO / "examples" / "preferences-smollm2.yaml"
    result = run_cli("generate", "preferences", "--config", str(example), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "temperatures:" in result.stdout and "model: smollm2" in result.stdout
