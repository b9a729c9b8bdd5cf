"""The `lf` command as users run it: fast help, exit codes, clear errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from lf.testing import run_cli as run_lf


def test_help_and_plugins_do_not_import_torch_or_the_server():
    code = (
        "import sys\n"
        "from lf.cli import main\n"
        "for args in (['--help'], ['plugins'], ['train', '--help'], ['evaluate', 'tasks', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'litestar', 'vllm', 'datasets', 'lm_eval', 'fsspec', 's3fs',"
        " 'huggingface_hub', 'redis', 'gguf') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_help_imports_neither_the_router_service_nor_the_expert_registry():
    # `lf --help` prints names and one-line summaries: the router's options (and the registry and
    # egress code behind them) load only for the commands that use them (lf run route, lf config show).
    code = (
        "import sys\n"
        "from lf.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', [m for m in ('lf_router_hybrid.service.options', 'lf.experts') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "LOADED []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_version():
    result = run_lf("--version")
    assert result.returncode == 0 and result.stdout.startswith("lf ")


def test_plugins_lists_the_six_formats():
    result = run_lf("plugins", "--json")
    formats = {
        c["name"] for row in json.loads(result.stdout)["plugins"] for c in row["components"] if c["kind"] == "format"
    }
    assert {"alpaca", "sharegpt", "messages", "prompt-response", "dpo", "text"} <= formats
    table = run_lf("plugins")
    assert "lf-core" in table.stdout and "prompt-response" in table.stdout


def test_unknown_plugin_names_what_is_installed():
    result = run_lf("run", "train", "--plugin", "nope")
    assert result.returncode == 5
    assert "No train component named 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_unknown_kind_suggests():
    result = run_lf("run", "trian", "--plugin", "sft")
    assert result.returncode == 5 and "Did you mean 'train'" in result.stderr


def test_usage_error_exit_code():
    assert run_lf("run", "train").returncode == 2  # --plugin missing


def test_config_show_for_a_format_and_bad_config_file(tmp_path):
    assert "no options" in run_lf("config", "show", "format", "alpaca").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    result = run_lf("config", "check", "route", "nope", str(bad))
    assert result.returncode == 5


def test_data_validate_reports_and_exit_codes(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"instruction": "a", "output": "b"}\n' * 5)
    ok = run_lf("data", "validate", str(good), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] == 5
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a", "outp\n')
    bad = run_lf("data", "validate", str(mixed))
    assert bad.returncode == 1 and "line 2" in bad.stdout and "valid 1" in bad.stdout
    missing = run_lf("data", "validate", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 4 and "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_data_convert_split_stats(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(20)))
    assert run_lf("data", "convert", str(src), str(tmp_path / "m.jsonl"), "--to", "messages").returncode == 0
    assert json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])["messages"][0]["role"] == "user"
    split = run_lf("data", "split", str(src), "-o", str(tmp_path / "s"), "--ratios", "0.5,0.5")
    assert split.returncode == 0 and (tmp_path / "s" / "val.jsonl").read_text().count("\n") == 10
    stats = run_lf("data", "stats", str(src), "--json")
    assert json.loads(stats.stdout)["records"] == 20
    wrong = run_lf("data", "convert", str(src), str(tmp_path / "p.jsonl"), "--to", "dpo")
    assert wrong.returncode == 4 and "no rejected answer" in wrong.stderr


def test_doctor_json_reports_python_and_torch():
    result = run_lf("doctor", "--json")
    names = {c["name"] for c in json.loads(result.stdout)["checks"]}
    assert {"python", "torch", "transformers"} <= names


def test_config_show_yaml_parses():
    result = run_lf("config", "show", "format", "text")
    assert yaml.safe_load(result.stdout) is None  # only comments for option-less components
