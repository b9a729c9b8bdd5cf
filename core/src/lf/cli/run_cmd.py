"""``lf run KIND --plugin NAME``: the one generic runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from lf.components import KINDS

#: Every kind but data formats runs: train, serve, quantize and generate in the core, route by the
#: router service a plugin registers (lf-router-hybrid).
RUNNABLE = [name for name in KINDS if name != "format"]


def run(
    kind: str = typer.Argument(..., help=f"What to run: {', '.join(RUNNABLE)}."),
    plugin: str = typer.Option(..., "--plugin", "-p", help="The component to run (see `lf plugins`)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or JSON config file."),
    set_: list[str] | None = typer.Option(
        None, "--set", "-s", help="Override one option, e.g. --set lora.r=16 (repeatable)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Make every check the run makes, print the resolved config and exit without running."
    ),
    nproc: int | None = typer.Option(
        None, "--nproc", help="train: run N processes (DDP; gloo on CPU). Default: one per GPU when >1 is visible."
    ),
    launcher: str = typer.Option(
        "torchrun", "--launcher", help="train: how to start the processes: torchrun, accelerate or none."
    ),
) -> None:
    """Run a component: train a model, start a server, quantize, generate data.

    Examples:
      lf run train --plugin sft --config sft.yaml --set output_dir=out/
      lf run serve --plugin hf --set model=out/ --set port=8000

    Options come from the config file, then LF_<NAME>_<OPTION> environment variables,
    then --set (the last one wins). `lf config show KIND NAME` prints every option.
    A bad value is refused before anything runs (exit 3), naming where it came from:
    FILE:LINE, --set key=value or the LF_* variable.
    Training starts itself under torchrun/accelerate when --nproc N or several GPUs say so.
    """
    if kind == "train" and not dry_run:
        procs = _processes(nproc, launcher)
        if procs > 1:
            args = ["run", kind, "--plugin", plugin, *(["--config", str(config)] if config else [])]
            args += [a for s in set_ or [] for a in ("--set", s)]
            raise typer.Exit(_launch(launcher, procs, args))
    execute(kind, plugin, config=config, overrides=set_ or [], dry_run=dry_run)


def _processes(nproc: int | None, launcher: str) -> int:
    """How many training processes to start: 1 inside a launcher, with --launcher none, or one device."""
    import os

    from lf.errors import ConfigError

    if launcher not in ("torchrun", "accelerate", "none"):
        raise ConfigError(f"--launcher must be torchrun, accelerate or none; found {launcher!r}.")
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, found {nproc}.")
    if launcher == "none" or "LOCAL_RANK" in os.environ:
        return 1
    if nproc is not None:
        return nproc
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return 1
    import torch

    return torch.cuda.device_count() if torch.cuda.device_count() > 1 else 1


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _launch(launcher: str, procs: int, args: list[str]) -> int:
    """Run ``lf ARGS`` under the launcher with ``procs`` processes; returns its exit code."""
    import shutil
    import subprocess
    import sys

    from lf.cli.console import info

    lf_script = str(Path(sys.executable).with_name("lf")) if Path(sys.executable).with_name("lf").exists() else None
    lf_script = lf_script or shutil.which("lf") or "lf"
    if launcher == "accelerate" and not _cuda():
        info("accelerate starts several CPU processes only through MPI; using torchrun (gloo) instead")
        launcher = "torchrun"
    if launcher == "accelerate":
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(procs)]
        cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", lf_script, *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"]
        cmd += [lf_script, *args]
    info(f"launching {procs} processes with {launcher}")
    return subprocess.run(cmd).returncode


def execute(
    kind: str,
    name: str,
    *,
    config: Path | None,
    overrides: list[str],
    flags: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> None:
    """Shared by ``lf run`` and the friendly commands."""
    from lf.cli.console import RichEvents, console, interruptible, print_result
    from lf.runner import resolve, run_component

    config_file = str(config) if config else None
    if dry_run:
        from lf.config import to_yaml

        _, cfg = resolve(kind, name, config_file=config_file, overrides=overrides, flags=flags)
        console().print(
            to_yaml(cfg, redact_secrets=True) if cfg is not None else "# (no options)", markup=False, highlight=False
        )
        return
    with interruptible(), RichEvents() as events:
        result = run_component(kind, name, config_file=config_file, overrides=overrides, flags=flags, events=events)
    import os

    if os.environ.get("RANK", "0") == "0":  # under a launcher, rank 0 alone summarizes
        print_result(result)
