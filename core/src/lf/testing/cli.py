"""Run the real ``lf`` console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def lf_executable() -> str:
    """The ``lf`` script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("lf"))


def signals_as_from_a_shell() -> None:
    """``preexec_fn`` for a child that a test will Ctrl-C: SIGINT and SIGTERM default and unblocked.

    A child inherits ignored and blocked signals from the process that starts it, and a test
    worker's state is not a shell's (under pytest-xdist with coverage a worker was seen whose
    children ignored SIGINT, so a Ctrl-C test hung). This gives the child what a shell gives.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


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


def install_into(target: str | os.PathLike[str], *packages: str | os.PathLike[str]) -> Path:
    """``pip install --no-deps --target TARGET PACKAGES`` - a real install that leaves the environment alone.

    Put ``target`` on ``PYTHONPATH`` (``env={"PYTHONPATH": str(target)}``) and ``lf`` finds
    the installed plugins through their entry points.
    """
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target)]
    subprocess.run([*cmd, *map(str, packages)], check=True, capture_output=True)
    return Path(target)


def run_pytest(
    directory: str | os.PathLike[str], *, pythonpath: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a package's own test suite (``DIRECTORY/tests``) in a fresh interpreter."""
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(directory)]
    return subprocess.run([*cmd, str(Path(directory) / "tests")], capture_output=True, text=True, env=env, timeout=1800)
