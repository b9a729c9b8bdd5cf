"""`lf plugin new` writes packages that install and pass their own tests as generated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lf.scaffold import TEMPLATES
from lf.testing import install_into, run_cli, run_pytest


@pytest.mark.slow
def test_every_template_installs_and_passes_its_tests(tmp_path):
    names = {"train": "kto", "quantize": "half", "generate": "templ", "format": "qa", "route": "overlap"}
    assert set(names) == set(TEMPLATES)
    for kind, name in names.items():
        result = run_cli("plugin", "new", kind, name, "--dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
    packages = sorted(p for p in tmp_path.iterdir() if p.name.startswith("lf-"))
    site = install_into(tmp_path / "site", *packages)
    listed = run_cli("plugins", "--json", env={"PYTHONPATH": str(site)})
    for kind, name in names.items():
        assert f'"name": "{name}"' in listed.stdout, kind
    for package in packages:
        tests = run_pytest(package, pythonpath=site)
        assert tests.returncode == 0, f"{package.name}:\n{tests.stdout[-3000:]}"
        assert " passed" in tests.stdout


def test_generated_code_is_lint_clean_under_its_own_ruff_config(tmp_path):
    ruff = Path(sys.executable).parent / "ruff"
    for kind in TEMPLATES:
        package = tmp_path / kind
        assert run_cli("plugin", "new", kind, f"x{kind}", "--dir", str(package)).returncode == 0
        for args in (["check", "."], ["format", "--check", "."]):
            (target,) = package.iterdir()
            done = subprocess.run([str(ruff), *args], cwd=target, capture_output=True, text=True)
            assert done.returncode == 0, f"{kind}: ruff {args[0]}\n{done.stdout}{done.stderr}"


def test_refuses_bad_names_kinds_and_existing_directories(tmp_path):
    assert run_cli("plugin", "new", "train", "Bad Name", "--dir", str(tmp_path)).returncode == 3
    assert "No plugin template" in run_cli("plugin", "new", "nope", "x", "--dir", str(tmp_path)).stderr
    assert run_cli("plugin", "new", "format", "qa", "--dir", str(tmp_path)).returncode == 0
    again = run_cli("plugin", "new", "format", "qa", "--dir", str(tmp_path))
    assert again.returncode == 3 and "already exists" in again.stderr
