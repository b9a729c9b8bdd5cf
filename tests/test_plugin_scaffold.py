"""`lf plugin new` writes packages that install and pass their own tests as generated."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lf.scaffold import TEMPLATES
from lf.testing import run_cli


@pytest.mark.slow
def test_every_template_installs_and_passes_its_tests(tmp_path):
    names = {"train": "kto", "quantize": "half", "generate": "templ", "format": "qa"}
    assert set(names) == set(TEMPLATES)
    for kind, name in names.items():
        result = run_cli("plugin", "new", kind, name, "--dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
    packages = sorted(p for p in tmp_path.iterdir() if p.name.startswith("lf-"))
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            *map(str, packages),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = run_cli("plugins", "--json", env=env)
    for kind, name in names.items():
        assert f'"name": "{name}"' in listed.stdout, kind
    for package in packages:
        tests = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(package),
                str(package / "tests"),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        assert tests.returncode == 0, f"{package.name}:\n{tests.stdout[-3000:]}"
        assert " passed" in tests.stdout


def test_refuses_bad_names_kinds_and_existing_directories(tmp_path):
    assert run_cli("plugin", "new", "train", "Bad Name", "--dir", str(tmp_path)).returncode == 3
    assert "No plugin template" in run_cli("plugin", "new", "nope", "x", "--dir", str(tmp_path)).stderr
    assert run_cli("plugin", "new", "format", "qa", "--dir", str(tmp_path)).returncode == 0
    again = run_cli("plugin", "new", "format", "qa", "--dir", str(tmp_path))
    assert again.returncode == 3 and "already exists" in again.stderr
