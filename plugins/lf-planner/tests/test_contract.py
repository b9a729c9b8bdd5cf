"""The plugin honours the lf contract and stays light at import time."""

from __future__ import annotations

import json
import subprocess
import sys

import lf_planner
from lf.testing import check_plugin, run_cli


def test_check_plugin_registers_only_the_command_group():
    assert check_plugin(lf_planner) == []  # no components: it adds `lf plan` through register_commands


def test_lf_help_lists_plan_and_plugins_lists_the_package():
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    assert "plan" in help_text.stdout
    listed = run_cli("plugins", "--json")
    assert listed.returncode == 0
    assert "lf-planner" in json.dumps(json.loads(listed.stdout))


def test_importing_the_plugin_and_planning_never_loads_torch_or_numpy():
    code = (
        "import sys, lf_planner, lf_planner.cli\n"
        "from lf_planner.engine import LLMForecastEngine\n"
        "from lf_planner.config import LLMWorkloadInput, ModelConfig\n"
        "LLMForecastEngine().generate_inference_plan(LLMWorkloadInput(requests_per_second=1, avg_input_tokens=10,"
        " avg_output_tokens=10), ModelConfig(model_size_billions=7))\n"
        "import lf_planner.forecast.run, lf_planner.calibrate, lf_planner.report_html\n"
        "print(sorted(m for m in ('torch', 'numpy', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
