"""``lf run KIND --plugin NAME``: the one generic runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import typer

from lf.components import KINDS

#: Every kind but data formats runs: train, serve, quantize and generate in the core, route by the
#: router service a plugin registers (lf-router-hybrid).
RUNNABLE = [name for name in KINDS if name != "format"]


_LAUNCH_HELP = {
    "nproc": "train: processes on this node (DDP; gloo on the CPU). Default: one per GPU when >1 is visible, else 1.",
    "launcher": "train: how to start the processes: torchrun, accelerate or none.",
    "nnodes": "train: nodes in the job (run the same command on each, with its own --node-rank).",
    "node_rank": "train: this node's rank, 0 to nnodes-1 (0: the node at --rdzv-endpoint); "
    "leave it out for torchrun's elastic rendezvous (ranks by arrival).",
    "rdzv_endpoint": "train: HOST:PORT where the nodes meet - node 0's address and a free port, the same everywhere.",
}


def launch_option(name: str) -> Any:
    """The typer option of one launch setting (shared by ``lf run train`` and ``lf train NAME``)."""
    flag = "--" + name.replace("_", "-")
    if name == "launcher":
        return typer.Option("torchrun", flag, help=_LAUNCH_HELP[name])
    return typer.Option(None, flag, help=_LAUNCH_HELP[name], show_default=False)


class LaunchRequest(NamedTuple):
    """What the command line asked of the launcher."""

    nproc: int | None
    launcher: str
    nnodes: int | None
    node_rank: int | None
    rdzv_endpoint: str | None


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
    nproc: int | None = launch_option("nproc"),
    launcher: str = launch_option("launcher"),
    nnodes: int | None = launch_option("nnodes"),
    node_rank: int | None = launch_option("node_rank"),
    rdzv_endpoint: str | None = launch_option("rdzv_endpoint"),
) -> None:
    """Run a component: train a model, start a server, quantize, generate data.

    \b
    Examples:
      lf run train --plugin sft --config sft.yaml --set output_dir=out/
      lf run serve --plugin hf --set model=out/ --set port=8000

    Options come from the config file, then LF_<NAME>_<OPTION> environment variables,
    then --set (the last one wins). `lf config show KIND NAME` prints every option.
    A bad value is refused before anything runs (exit 3), naming where it came from:
    FILE:LINE, --set key=value or the LF_* variable.

    Training starts itself under torchrun/accelerate when --nproc N, --nnodes N or several
    GPUs say so; --set distributed=fsdp|zero2|zero3 picks a shipped FSDP or DeepSpeed config.
    On several nodes, run the same command on every node with its own --node-rank:

    \b
      lf run train --plugin sft -c sft.yaml --nnodes 2 --node-rank 0 --rdzv-endpoint 10.0.0.1:29500
      lf run train --plugin sft -c sft.yaml --nnodes 2 --node-rank 1 --rdzv-endpoint 10.0.0.1:29500
    """  # noqa: D301 - \b keeps click from rewrapping the examples
    if kind == "train" and not dry_run:
        request = LaunchRequest(nproc, launcher, nnodes, node_rank, rdzv_endpoint)
        if launch_if_needed(plugin, config, set_ or [], None, request):
            return
    execute(kind, plugin, config=config, overrides=set_ or [], dry_run=dry_run)


def launch_if_needed(
    name: str, config: Path | None, overrides: list[str], flags: Mapping[str, Any] | None, request: LaunchRequest
) -> bool:
    """Start ``lf run train --plugin NAME ...`` under the launcher when several processes or nodes are asked for.

    The config is checked first (a bad one fails here, once, not in every process). Returns
    False when one process in this one is enough (also inside a launcher); otherwise exits
    with the job's exit code.
    """
    import json

    from lf.cli.launch import check_nodes
    from lf.errors import ConfigError

    nodes = check_nodes(request.nnodes, request.node_rank, request.rdzv_endpoint)
    procs = _processes(request.nproc, request.launcher)
    if _inside_launcher():
        return False
    if request.launcher == "none" and nodes.several:
        raise ConfigError(
            "--launcher none runs this process alone; it cannot start a job on several nodes.",
            hint="Use --launcher torchrun (or accelerate), or start lf under your own launcher (srun, mpirun...).",
        )
    if procs == 1 and not nodes.several:
        return False
    from lf.runner import resolve

    resolve("train", name, config_file=str(config) if config else None, overrides=overrides, flags=flags)
    args = ["run", "train", "--plugin", name, *(["--config", str(config)] if config else [])]
    args += [a for s in overrides for a in ("--set", s)]
    args += [a for k, v in (flags or {}).items() for a in ("--set", f"{k}={json.dumps(v)}")]
    raise typer.Exit(_launch(request.launcher, procs, nodes, args))


def _inside_launcher() -> bool:
    import os

    return "LOCAL_RANK" in os.environ


def _processes(nproc: int | None, launcher: str) -> int:
    """How many training processes to start: 1 inside a launcher, with --launcher none, or one device."""
    from lf.cli.launch import LAUNCHERS
    from lf.errors import ConfigError

    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher must be torchrun, accelerate or none; found {launcher!r}.")
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, found {nproc}.")
    if launcher == "none" or _inside_launcher():
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


def _launch(launcher: str, procs: int, nodes: Any, args: list[str]) -> int:
    """Run ``lf ARGS`` under the launcher with ``procs`` processes on this node; returns the job's exit code."""
    import os
    import shutil
    import subprocess
    import sys

    from lf.cli.console import info, warn
    from lf.cli.launch import RESUMABLE, launch_command

    lf_script = str(Path(sys.executable).with_name("lf")) if Path(sys.executable).with_name("lf").exists() else None
    lf_script = lf_script or shutil.which("lf") or "lf"
    used, cmd = launch_command(launcher, procs, nodes, args, lf_script=lf_script, cuda=_cuda())
    if used != launcher:
        info("accelerate starts several CPU processes only through MPI; using torchrun (gloo) instead")
    rank = "?" if nodes.node_rank is None else nodes.node_rank
    where = f", node {rank} of {nodes.nnodes}" if nodes.several else ""
    info(f"launching {procs} process{'es' if procs > 1 else ''} with {used}{where}")
    env = dict(os.environ)
    if not _cuda() and "OMP_NUM_THREADS" not in env:  # each process's share of the cores (else torch takes all)
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // procs))
    code = subprocess.run(cmd, env=env).returncode
    if code in RESUMABLE:
        warn(
            f"the training job stopped (exit code {code}; each failed rank is named above). Fix the cause, then "
            "run the same command again on every node: resume: auto (the default) continues from the last "
            "complete checkpoint in output_dir."
        )
    return code


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
