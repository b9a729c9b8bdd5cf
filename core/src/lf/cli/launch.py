"""Training under torchrun or accelerate, on one node or several (``lf run train --nproc/--nnodes``).

``lf`` builds the launcher's command line and nothing else: torchrun (``torch.distributed.run``)
or ``accelerate launch`` start the processes, hold the rendezvous and watch the workers; the
trainers' ``TrainingArguments`` bring DDP, FSDP or DeepSpeed through accelerate.

On several nodes every node runs the same ``lf`` command with its own ``--node-rank`` and the
same ``--rdzv-endpoint HOST:PORT`` (node 0's address, a free port there): with a node rank
the rendezvous is static (node 0 hosts it, ranks are fixed); without one it is torchrun's
elastic ``c10d`` rendezvous (ranks by arrival). The launcher is run through
``python -m lf.cli.launch``, which turns a failed worker into a one-line report per rank
instead of the launcher's traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from lf.errors import ConfigError

LAUNCHERS = ("torchrun", "accelerate", "none")
#: Exit codes a worker may end with that mean "the job failed while running": resuming can help.
RESUMABLE = frozenset({1, 7, 70})


@dataclass(frozen=True)
class Nodes:
    """Where this node stands in a multi-node job (one node: the defaults)."""

    nnodes: int = 1
    node_rank: int | None = None
    rdzv_endpoint: str | None = None

    @property
    def several(self) -> bool:
        """Whether the job spans more than this node."""
        return self.nnodes > 1


def check_nodes(nnodes: int | None, node_rank: int | None, rdzv_endpoint: str | None) -> Nodes:
    """The :class:`Nodes` of the command-line options; a :class:`ConfigError` saying how to fix a bad one."""
    nnodes = 1 if nnodes is None else nnodes
    if nnodes < 1:
        raise ConfigError(f"--nnodes must be at least 1, found {nnodes}.")
    if nnodes == 1:
        if node_rank not in (None, 0) or rdzv_endpoint:
            raise ConfigError(
                "--node-rank and --rdzv-endpoint describe a job on several nodes, but --nnodes is 1.",
                hint="Add --nnodes N (the number of nodes), or drop --node-rank/--rdzv-endpoint.",
            )
        return Nodes()
    if not rdzv_endpoint:
        raise ConfigError(
            f"--nnodes {nnodes} needs --rdzv-endpoint HOST:PORT: where the nodes meet.",
            hint="Use node 0's address and a free port there, the same on every node, e.g. 10.0.0.1:29500.",
        )
    _check_endpoint(rdzv_endpoint)
    if node_rank is not None and not 0 <= node_rank < nnodes:
        raise ConfigError(
            f"--node-rank must be between 0 and {nnodes - 1} (--nnodes {nnodes}), found {node_rank}.",
            hint="Give each node its own rank: 0 on the node at --rdzv-endpoint, then 1, 2...",
        )
    return Nodes(nnodes, node_rank, rdzv_endpoint)


def _check_endpoint(endpoint: str) -> None:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--rdzv-endpoint must be HOST:PORT (a port from 1 to 65535), found {endpoint!r}.",
            hint="e.g. --rdzv-endpoint 10.0.0.1:29500 (node 0's address; [::1]:29500 for IPv6).",
        )


def launch_command(
    launcher: str, nproc: int, nodes: Nodes, lf_args: list[str], *, lf_script: str, cuda: bool
) -> tuple[str, list[str]]:
    """``(launcher used, argv)`` that starts ``lf LF_ARGS`` in ``nproc`` processes on this node.

    accelerate starts several CPU processes only through MPI, so without CUDA torchrun
    (gloo) is used instead: the launcher returned says which one runs.
    """
    if launcher == "accelerate" and not cuda:
        launcher = "torchrun"
    head = [sys.executable, "-m", "lf.cli.launch", launcher]
    if launcher == "accelerate":
        cmd = ["--multi_gpu", "--num_processes", str(nproc * nodes.nnodes), "--num_machines", str(nodes.nnodes)]
        cmd += ["--mixed_precision", "no", "--dynamo_backend", "no"]
        if nodes.several:
            host, _, port = (nodes.rdzv_endpoint or "").rpartition(":")
            cmd += ["--main_process_ip", host.strip("[]"), "--main_process_port", port, "--same_network"]
            cmd += ["--machine_rank", str(nodes.node_rank or 0)]
            cmd += ["--rdzv_backend", "static" if nodes.node_rank is not None else "c10d", "--max_restarts", "0"]
        return launcher, [*head, *cmd, lf_script, *lf_args]
    if not nodes.several:
        cmd = ["--standalone", f"--nproc-per-node={nproc}"]
    else:
        cmd = [f"--nnodes={nodes.nnodes}", f"--nproc-per-node={nproc}", f"--rdzv-endpoint={nodes.rdzv_endpoint}"]
        if nodes.node_rank is not None:  # static: node 0 hosts the rendezvous, ranks are fixed
            cmd += ["--rdzv-backend=static", f"--node-rank={nodes.node_rank}"]
        else:  # elastic: ranks by arrival
            cmd += ["--rdzv-backend=c10d", "--rdzv-id=lf"]
        cmd += ["--max-restarts=0"]
    return launcher, [*head, *cmd, lf_script, *lf_args]


def _failure_report(exc: BaseException) -> tuple[list[str], int]:
    """One line per failed rank of a ``ChildFailedError``, and the exit code to end with."""
    import signal

    failures = getattr(exc, "failures", {}) or {}
    lines, codes = [], []
    for rank, failure in sorted(failures.items()):
        code = int(getattr(failure, "exitcode", 1) or 1)
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        lines.append(f"lf launcher: rank {rank} (local rank {getattr(failure, 'local_rank', '?')}) {how}")
        codes.append(code)
    own = [c for c in codes if 0 < c < 128]
    return lines, (own[0] if own else 7)


def main(argv: list[str]) -> int:
    """Run the launcher named by ``argv[0]`` with ``argv[1:]``; a failure is a short report, no traceback."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    launcher, rest = argv[0], argv[1:]
    try:
        if launcher == "accelerate":
            from accelerate.commands.launch import launch_command as accelerate_launch
            from accelerate.commands.launch import launch_command_parser

            accelerate_launch(launch_command_parser().parse_args(rest))
        else:
            from torch.distributed.run import main as torchrun

            torchrun(rest)
    except ChildFailedError as exc:
        lines, code = _failure_report(exc)
        print("\n".join(lines), file=sys.stderr, flush=True)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the launcher itself failed: rendezvous timeout, store unreachable...
        print(f"lf launcher: {launcher} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 7
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
