"""The real `lf plan` command: flags, config files, exports, interactive mode, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lf.testing import run_cli
from lf.testing.cli import lf_executable, signals_as_from_a_shell

INFERENCE = [
    "plan",
    "inference",
    "--rps",
    "10",
    "--input-tokens",
    "500",
    "--output-tokens",
    "200",
    "--model-size",
    "70",
    "--precision",
    "FP16",
]


def test_flags_print_a_summary_with_footnotes():
    out = run_cli(*INFERENCE, "--gpu-type", "A100-80GB", "--cost")
    assert out.returncode == 0, out.stderr
    assert "A100-80GB" in out.stdout and "TTFT" in out.stdout and "/month" in out.stdout
    assert "Assumptions" in out.stdout and "[A2]" in out.stdout and "A2 Weights" in out.stdout
    assert "Traceback" not in out.stderr


def test_json_csv_and_html_exports(tmp_path):
    out = run_cli(*INFERENCE, "--json")
    plan = json.loads(out.stdout)
    assert plan["plan_type"] == "inference" and plan["gpu_resources"]["total_gpus"] > 0
    for name in ("plan.json", "plan.csv", "plan.html", "plan.out"):
        result = run_cli(*INFERENCE, "--cost", "--output", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "plan.json").read_text())["model_config"]["precision"] == "FP16"
    assert json.loads((tmp_path / "plan.out").read_text())["plan_type"] == "inference"  # JSON is the default format
    rows = dict(csv.reader((tmp_path / "plan.csv").read_text().splitlines()))
    assert float(rows["gpu_resources.total_gpus"]) > 0 and rows["field"] == "value"
    html = (tmp_path / "plan.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 3
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    assert "Replicas vs load" in html and "Memory per replica" in html and "cost per month by GPU type" in html
    rendered = run_cli("plan", "render", str(tmp_path / "plan.json"), "--output", str(tmp_path / "again.html"))
    assert rendered.returncode == 0 and (tmp_path / "again.html").read_text() == html


def test_training_flags():
    out = run_cli(
        "plan", "training", "--dataset-size", "1000000000", "--sequence-length", "4096", "--epochs", "3",
        "--global-batch-size", "64", "--model-size", "70", "--precision", "BF16", "--optimizer", "Adam",
        "--gradient-checkpointing", "--gpu-type", "A100-80GB", "--cost", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["gpu_resources"]["required_gpus"] >= 16  # 70B x 16 B / 72 GB usable per GPU
    assert plan["cost"]["total_training_cost"] > 0


def test_generate_config_then_config_with_overrides(tmp_path):
    made = run_cli("plan", "--generate-config", "inference", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    config = tmp_path / "inference_config.json"
    assert json.loads(config.read_text())["mode"] == "inference"
    again = run_cli("plan", "--generate-config", "inference", cwd=tmp_path)
    assert again.returncode == 3 and "--force" in again.stderr
    by_config = run_cli("plan", "--config", str(config), "--json", cwd=tmp_path)
    assert by_config.returncode == 0, by_config.stderr
    assert json.loads(by_config.stdout)["workload_input"]["requests_per_second"] == 10.0
    assert (tmp_path / "capacity_plan.json").exists()  # options.output_file, next to the config
    override = run_cli("plan", "inference", "--config", str(config), "--rps", "20", "--json", cwd=tmp_path)
    plan = json.loads(override.stdout)
    assert plan["workload_input"]["requests_per_second"] == 20.0
    assert plan["gpu_resources"]["max_replicas"] > json.loads(by_config.stdout)["gpu_resources"]["max_replicas"]
    made = run_cli("plan", "--generate-config", "training", cwd=tmp_path)
    training = run_cli("plan", "--config", str(tmp_path / "training_config.json"), "--json", cwd=tmp_path)
    assert training.returncode == 0 and json.loads(training.stdout)["plan_type"] == "training"


def test_config_alone_takes_the_mode_from_the_file_and_flags_override_it():
    repo = Path(__file__).resolve().parents[3]
    example = str(repo / "examples" / "plan-training.yaml")
    plan = json.loads(run_cli("plan", "--config", example, "--json").stdout)
    assert plan["plan_type"] == "training" and plan["service"]["environment"] == "prod"
    flags = ["--environment", "dev", "--criticality", "low", "--service-name", "Nightly tune"]
    flags += ["--target-gpu-utilization", "0.5", "--epochs", "1"]
    over = run_cli("plan", "--config", example, *flags, "--json")
    assert over.returncode == 0, over.stderr
    changed = json.loads(over.stdout)
    assert (
        changed["service"] | {"environment": "dev", "criticality": "low", "service_name": "Nightly tune"}
        == (changed["service"])
    )
    assert changed["gpu_config"]["target_gpu_utilization"] == 0.5 and changed["training_input"]["num_epochs"] == 1
    direct = run_cli("plan", "training", "--config", example, *flags, "--json")
    assert json.loads(direct.stdout)["service"] == changed["service"]  # the same as naming the mode
    inference = run_cli("plan", "--config", str(repo / "examples" / "plan-inference.yaml"), "--rps", "20", "--json")
    assert json.loads(inference.stdout)["workload_input"]["requests_per_second"] == 20.0
    helped = run_cli("plan", "training", "--help")
    for flag in ("--environment", "--criticality", "--service-name", "--target-gpu-utilization"):
        assert flag in helped.stdout
    wrong = run_cli("plan", "--config", example, "--rps", "3")  # an inference flag on a training file
    assert wrong.returncode == 2 and "--rps" in wrong.stderr and "Traceback" not in wrong.stderr


GOOD = {
    "mode": "inference",
    "workload": {"requests_per_second": 1, "avg_input_tokens": 5, "avg_output_tokens": 5},
    "model": {"model_size_billions": 7},
}


def _with(section: str, **values) -> str:
    data = json.loads(json.dumps(GOOD))
    data.setdefault(section, {}).update(values)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_with("workload", requests_per_second=0), "workload.requests_per_second"),
        (_with("workload", rps=3), "unknown option 'workload.rps'"),
        ('{"mode": "inference", "workload": {"requests_per_second": 1}', "invalid JSON"),
        ('{"mode": "serving"}', "mode must be 'inference' or 'training'"),
        (_with("options", output_file="../../x.json"), "relative path"),
    ],
)
def test_invalid_config_files_are_explained(tmp_path, content, expected):
    config = tmp_path / "bad.json"
    config.write_text(content)
    out = run_cli("plan", "--config", str(config))
    assert out.returncode == 3, out.stdout
    assert expected in out.stderr and "Traceback" not in out.stderr


def test_bad_flags_name_the_flag_and_the_fix():
    out = run_cli(
        "plan", "inference", "--rps", "-1", "--input-tokens", "5", "--output-tokens", "5", "--model-size", "7"
    )
    assert out.returncode == 3
    assert "--rps" in out.stderr and "greater" not in out.stdout and "(> 0)" in out.stderr
    unknown = run_cli(
        "plan", "inference", "--rps", "1", "--input-tokens", "5", "--output-tokens", "5", "--model", "lama-3.1-8b"
    )
    assert unknown.returncode == 3 and "Did you mean 'llama-3.1-8b'" in unknown.stderr


def test_interactive_mode_validates_answers_inline(tmp_path):
    answers = "inference\nabc\n-1\n5\n\n\n8\nbf16\n\n\n\n\n\nA100-80GB\ny\naws\nplan.json\n"
    out = run_cli_input(["plan"], answers, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "'abc' is not a number" in out.stdout and "must be greater than 0" in out.stdout
    assert "A100-80GB" in out.stdout and "wrote JSON plan" in out.stdout
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["workload_input"]["requests_per_second"] == 5.0 and plan["cost"]["provider"] == "aws"


def test_interactive_training_and_end_of_input(tmp_path):
    answers = "2e8\n\n\n\n\nllama-3.1-8b\nqlora\n\n\n\n\nn\n\n"
    out = run_cli_input(["plan", "training"], answers, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "QLORA fine-tuning" in out.stdout
    cut = run_cli_input(["plan"], "inference\n3\n", cwd=tmp_path)
    assert cut.returncode == 1 and "input ended" in cut.stderr and "Traceback" not in cut.stderr


def test_ctrl_c_exits_cleanly():
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [lf_executable(), "plan"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=signals_as_from_a_shell,
    )
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 120
    while b"serving or fine-tuning" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            seen += os.read(proc.stdout.fileno(), 4096)
    assert b"serving or fine-tuning" in seen
    proc.send_signal(signal.SIGINT)
    # wait before closing stdin (communicate() would): on a busy machine the closed pipe can
    # reach input() before the signal does, which is an end of input (exit 1), not a Ctrl-C
    proc.wait(timeout=60)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"interrupted" in err and b"Traceback" not in err


def test_reference_commands():
    gpus = run_cli("plan", "gpus")
    assert gpus.returncode == 0 and "H100-80GB" in gpus.stdout and "989.5" in gpus.stdout
    listed = json.loads(run_cli("plan", "gpus", "--json").stdout)
    assert listed["prices"] and all(p["read_on"] and p["source"] for p in listed["prices"])
    models = run_cli("plan", "models")
    assert "llama-3.1-70b" in models.stdout
    schema = json.loads(run_cli("plan", "schema", "training").stdout)
    assert schema["title"].startswith("TrainingCapacityPlan")


def run_cli_input(args: list[str], stdin: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [lf_executable(), *args], input=stdin, capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "COLUMNS": "200"}, timeout=300,
    )  # fmt: skip
