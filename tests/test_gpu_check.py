"""bench/gpu_check.sh on a machine without a GPU: its syntax, its dry run, and the helper's table.

The script itself runs on a CUDA machine (issue 16, item 4); here it must at least parse, list its
steps with their real commands and time budgets (under the 8 minutes the issue allows) without
running or writing anything, and its helper must build the mixed prompts and the final table.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
STEPS = ["env", "install", "model", "qlora", "vllm", "hf", "table"]


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_gpu_check", ROOT / "bench" / "_gpu_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_dry_run_lists_every_step_within_eight_minutes_and_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--out", str(out), "--python", sys.executable],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = result.stdout
    listed = re.findall(r"^\[(\d)/7\] (\w+) +\(<= +(\d+)s\)", text, flags=re.MULTILINE)
    assert [name for _, name, _ in listed] == STEPS
    assert sum(int(budget) for _, _, budget in listed) <= 8 * 60
    for command in ("vllm.entrypoints.openai.api_server", "serve vllm", "serve hf", "--device cuda", " qlora "):
        assert command in text, command
    assert not out.exists()  # a dry run writes nothing


def test_unknown_arguments_are_a_usage_error() -> None:
    result = subprocess.run(["bash", str(SCRIPT), "--gpus", "2"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "unknown argument '--gpus'" in result.stderr


def test_the_mixed_prompts_differ_and_have_10_to_20_words() -> None:
    prompts = _helper().mixed_prompts(48)
    assert len(set(prompts)) == 48
    lengths = {len(p.split()) for p in prompts}
    assert min(lengths) >= 10 and max(lengths) <= 20 and len(lengths) > 5


def test_the_table_shows_ratios_and_the_status_of_steps_without_results(tmp_path: Path) -> None:
    gpu_check = _helper()
    levels = {"1": {"tok_s": 200.0}, "8": {"tok_s": 1000.0}, "32": {"tok_s": 3000.0}}
    (tmp_path / "env.json").write_text(json.dumps({"gpu": "NVIDIA H100", "gpu_memory_gb": 85.0, "torch": "2.13"}))
    (tmp_path / "qlora.json").write_text(json.dumps({"steps": 10, "peak_gb": 1.2, "planned_gb": 1.1, "seconds": 30}))
    (tmp_path / "serve-vllm (anchor).json").write_text(json.dumps({"levels": levels}))
    half = {c: {"tok_s": v["tok_s"] / 2} for c, v in levels.items()}
    (tmp_path / "serve-lf+vllm.json").write_text(json.dumps({"levels": half}))
    (tmp_path / "status.tsv").write_text("qlora\tok\nvllm\tok\nhf\tfailed (exit 1)\n")
    table = gpu_check.render_table(tmp_path)
    assert "NVIDIA H100" in table and "peak 1.20 GB" in table and "lf plan says 1.10 GB" in table
    lf_vllm = next(line for line in table.splitlines() if line.startswith("lf+vllm"))
    assert lf_vllm.count("0.50x") == 3
    assert "failed (exit 1)" in next(line for line in table.splitlines() if line.startswith("lf+hf"))
