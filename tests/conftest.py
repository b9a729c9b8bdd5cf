from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def installed_test_plugins(tmp_path_factory) -> Path:
    """tests/plugins/* really pip-installed into a private --target directory."""
    target = tmp_path_factory.mktemp("site")
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
            str(target),
            str(ROOT / "tests/plugins/lf-toy-classifier"),
            str(ROOT / "tests/plugins/lf-broken-plugin"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target
