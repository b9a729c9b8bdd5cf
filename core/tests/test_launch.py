"""The launcher command lines of ``lf run train --nproc/--nnodes`` and their checks (nothing is launched here).

A real two-node job on 127.0.0.1 runs in plugins/lf-trainer-sft/tests/test_multinode.py.
"""

from __future__ import annotations

import sys

import pytest

from lf.cli.launch import Nodes, _failure_report, check_nodes, launch_command
from lf.errors import ConfigError
from lf.testing import run_cli

ARGS = ["run", "train", "--plugin", "sft"]


def test_one_node_is_torchrun_standalone():
    used, cmd = launch_command("torchrun", 2, Nodes(), ARGS, lf_script="/bin/lf", cuda=False)
    assert used == "torchrun"
    assert cmd == [sys.executable, "-m", "lf.cli.launch", "torchrun", "--standalone", "--nproc-per-node=2",
                   "/bin/lf", *ARGS]  # fmt: skip


def test_several_nodes_with_a_rank_meet_at_a_static_rendezvous():
    nodes = check_nodes(2, 1, "10.0.0.1:29500")
    _, cmd = launch_command("torchrun", 4, nodes, ARGS, lf_script="/bin/lf", cuda=True)
    flags = cmd[4 : cmd.index("/bin/lf")]
    assert flags == ["--nnodes=2", "--nproc-per-node=4", "--rdzv-endpoint=10.0.0.1:29500", "--rdzv-backend=static",
                     "--node-rank=1", "--max-restarts=0"]  # fmt: skip
    _, elastic = launch_command("torchrun", 4, check_nodes(2, None, "head:29500"), ARGS, lf_script="lf", cuda=True)
    assert "--rdzv-backend=c10d" in elastic and not any(a.startswith("--node-rank") for a in elastic)


def test_accelerate_gets_its_multi_machine_flags_on_gpus_and_torchrun_stands_in_on_the_cpu():
    nodes = check_nodes(2, 0, "[fd00::1]:29500")
    used, cmd = launch_command("accelerate", 8, nodes, ARGS, lf_script="lf", cuda=True)
    assert used == "accelerate"
    pairs = dict(zip(cmd[5::2], cmd[6::2], strict=False))
    assert pairs["--num_processes"] == "16" and pairs["--num_machines"] == "2"  # accelerate counts all machines
    assert cmd[cmd.index("--main_process_ip") + 1] == "fd00::1" and "--same_network" in cmd
    assert cmd[cmd.index("--machine_rank") + 1] == "0" and cmd[cmd.index("--rdzv_backend") + 1] == "static"
    used, cmd = launch_command("accelerate", 2, nodes, ARGS, lf_script="lf", cuda=False)
    assert used == "torchrun" and "--rdzv-backend=static" in cmd


@pytest.mark.parametrize(
    ("nnodes", "rank", "endpoint", "says"),
    [
        (2, 0, None, "needs --rdzv-endpoint HOST:PORT"),
        (2, 2, "h:29500", "between 0 and 1"),
        (2, 0, "h", "must be HOST:PORT"),
        (2, 0, "h:99999", "must be HOST:PORT"),
        (1, 1, None, "--nnodes is 1"),
        (0, None, None, "at least 1"),
    ],
)
def test_bad_node_options_say_how_to_fix_them(nnodes, rank, endpoint, says):
    with pytest.raises(ConfigError) as err:
        check_nodes(nnodes, rank, endpoint)
    assert says in err.value.message


def test_a_failed_rank_is_one_line_with_its_exit_code_or_signal():
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    failures = {1: ProcessFailure(local_rank=0, pid=11, exitcode=-9, error_file=""),
                0: ProcessFailure(local_rank=0, pid=10, exitcode=7, error_file="")}  # fmt: skip
    lines, code = _failure_report(ChildFailedError("lf", failures))
    assert lines == ["lf launcher: rank 0 (local rank 0) exited with code 7",
                     "lf launcher: rank 1 (local rank 0) was killed by SIGKILL"]  # fmt: skip
    assert code == 7


def test_the_cli_refuses_a_bad_multi_node_or_sharded_setup_before_launching():
    missing = run_cli(*ARGS, "--config", "examples/sft-tiny.yaml", "--nnodes", "2", cwd=_root())
    assert missing.returncode == 3 and "--rdzv-endpoint" in missing.stderr and "Traceback" not in missing.stderr
    alone = run_cli(*ARGS, "-c", "examples/sft-tiny.yaml", "--nnodes", "2", "--rdzv-endpoint", "h:1",
                    "--launcher", "none", cwd=_root())  # fmt: skip
    assert alone.returncode == 3 and "cannot start a job on several nodes" in alone.stderr
    fsdp = run_cli("train", "sft", "-c", "examples/sft-tiny.yaml", "--distributed", "fsdp", "--nproc", "2",
                   cwd=_root())  # fmt: skip
    assert fsdp.returncode == 3, fsdp.stderr
    assert "no CUDA device is visible" in fsdp.stderr and "launching" not in fsdp.stderr


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
