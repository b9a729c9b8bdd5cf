"""Run the real ``lf`` console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def lf_executable() -> str:
    """The ``lf`` script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("lf"))


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``lf ARGS...`` with captured text output (wide columns, so messages are not wrapped)."""
    return subprocess.run(
        [lf_executable(), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )
