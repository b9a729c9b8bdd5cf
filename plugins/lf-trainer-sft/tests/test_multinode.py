"""A real two-node training job on one machine: two ``lf run train --nnodes 2`` on 127.0.0.1 (torchrun, gloo).

Each "node" is a process tree (lf, its torchrun agent, its worker), as on two machines; they
share output_dir as nodes share a volume. The job trains in lockstep (both ranks end with the
same weights), a SIGKILL of node 1 fails node 0 with a clear error within the collective
timeout (no hang), and the same commands again continue from the last complete checkpoint
(``resume: auto``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lf.testing import free_port
from lf.testing.cli import lf_executable
from lf_trainer_sft.checkpoints import MARKER, list_checkpoints, validate_checkpoint

REPO = Path(__file__).resolve().parents[3]
REPORT = re.compile(r"lf rank (\d)/2: \d+ optimizer steps, global step (\d+), epoch [\d.]+, weights sha256:(\w+)")


def start_node(rank: int, port: int, out: Path, max_steps: int, log: Path) -> subprocess.Popen[bytes]:
    """One node: ``lf run train ... --nnodes 2 --node-rank RANK`` in a session of its own (killable as a whole)."""
    args = [lf_executable(), "run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml"]
    args += ["--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint", f"127.0.0.1:{port}"]
    for option in (f"output_dir={out}", f"max_steps={max_steps}", "save_steps=2", "save_total_limit=2",
                   "logging_steps=1", "distributed_timeout_s=60"):  # fmt: skip
        args += ["--set", option]
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as handle:
        return subprocess.Popen(args, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, env=env)


def complete_checkpoints(out: Path) -> list[int]:
    return [step for step, path in list_checkpoints(out) if (path / MARKER).exists() and not validate_checkpoint(path)]


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (Linux /proc), children first found first."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def kill_node(node: subprocess.Popen[bytes]) -> None:
    """SIGKILL a node's whole tree, as a machine that dies (torchrun puts its workers in sessions of their own)."""
    for pid in [node.pid, *descendants(node.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    node.wait()


def stop(nodes: list[subprocess.Popen[bytes]]) -> None:
    for node in nodes:
        if node.poll() is None:
            kill_node(node)


@pytest.mark.slow
def test_two_nodes_train_in_lockstep_a_killed_node_fails_the_job_and_resume_continues(tmp_path: Path) -> None:
    out = tmp_path / "run"
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    nodes = [start_node(rank, port := free_port(), out, 500, logs[rank]) for rank in (0,)]
    nodes.append(start_node(1, port, out, 500, logs[1]))
    try:
        deadline = time.monotonic() + 300
        while not complete_checkpoints(out) or max(complete_checkpoints(out)) < 4:
            assert time.monotonic() < deadline, logs[0].read_text()[-3000:]
            assert all(n.poll() is None for n in nodes), logs[0].read_text()[-3000:] + logs[1].read_text()[-3000:]
            time.sleep(0.2)
        kill_node(nodes[1])  # node 1 dies: lf, its torchrun agent and its worker
        code = nodes[0].wait(timeout=180)  # the collective timeout is 60 s: a hang would stop here
    finally:
        stop(nodes)
    survivor = logs[0].read_text()
    assert code == 7, survivor[-3000:]
    assert "Another training process (on this node or another) stopped" in survivor
    assert "lf launcher: rank 0 (local rank 0) exited with code 7" in survivor
    assert "run the same command again on every node" in " ".join(survivor.split())
    assert "Traceback" not in survivor and not (out / "lf_output.json").exists()
    last = max(complete_checkpoints(out))
    marker = json.loads((out / f"checkpoint-{last}" / MARKER).read_text())
    assert marker["world_size"] == 2 and marker["written_by_rank"] == 0

    print(survivor)
    port = free_port()
    logs = [tmp_path / "node0-resumed.log", tmp_path / "node1-resumed.log"]
    nodes = [start_node(rank, port, out, last + 2, logs[rank]) for rank in (0, 1)]
    try:
        codes = [n.wait(timeout=400) for n in nodes]
    finally:
        stop(nodes)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], texts[0][-3000:] + texts[1][-3000:]
    assert f"resuming from {out / f'checkpoint-{last}'}" in " ".join(texts[0].split())
    reports = sorted(m.groups() for text in texts for m in REPORT.finditer(text))
    assert [(rank, int(step)) for rank, step, _ in reports] == [("0", last + 2), ("1", last + 2)]
    assert reports[0][2] == reports[1][2], reports  # both ranks hold the same weights
    assert json.loads((out / "lf_output.json").read_text())["global_step"] == last + 2
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert sorted(set(steps)) == list(range(1, last + 3))  # rank 0 alone logs; resumed, the log goes on
    assert texts[0].count("global_step") == 1 and "global_step" not in texts[1]  # rank 0 alone prints the summary
