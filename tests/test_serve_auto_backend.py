"""``lf serve inference`` without ``--backend``: vLLM where it can serve the model, else hf, saying why.

In this environment (.venv) vLLM does not import, so hf is chosen and the first line says
so (the vllm half, in .venv-vllm, is in plugins/lf-backend-vllm/tests). The fallback runs
for real: a backend registered as ``vllm`` that takes the model and then fails to load it
(as vLLM does on a model its kernels cannot run) hands over to the real hf backend, which
serves; named with ``--backend vllm`` the same failure is the command's clear error.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from lf.testing import free_port, run_cli, wait_ready

FAILING_VLLM = '''
"""A backend named vllm that accepts every model, then fails to load it (as vLLM does on some)."""
from lf.components import ComponentSpec
from lf.hookspecs import hookimpl
from lf.serve.config import ServeConfig


class Config(ServeConfig, kw_only=True, forbid_unknown_fields=True):
    pass


class FailingVLLM:
    @classmethod
    def supports(cls, model):
        return True

    def load(self, config):
        raise RuntimeError("the engine cannot run this model's attention on this device")

    async def generate(self, request):
        raise NotImplementedError

    def stream(self, request):
        raise NotImplementedError

    def models(self):
        return []


@hookimpl
def register_backends(register):
    register(ComponentSpec(kind="serve", name="vllm", summary="fails to load", config=Config,
                           impl="failing_vllm:FailingVLLM"))
'''

#: The real `lf` CLI with the failing backend added in-process; LF_PLUGINS keeps the real vllm plugin out.
LAUNCHER = """
import sys
sys.path.insert(0, {dir!r})
import failing_vllm
from lf.plugins import get_registry
get_registry().add_plugin(failing_vllm, name="failing-vllm")
from lf.cli import main
main()
"""


def test_without_backend_the_command_says_which_and_why(tiny_model_dir: Path) -> None:
    result = run_cli("serve", "inference", "--model", str(tiny_model_dir), "--dry-run", env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    if importlib.util.find_spec("vllm") is None:
        assert first.startswith("lf serve inference: backend hf (auto: not vllm: vLLM is not installed")
    else:
        assert "backend vllm (auto:" in first or "backend hf (auto: not vllm:" in first
    assert f"model: {tiny_model_dir}" in result.stdout
    forced = run_cli("serve", "inference", "--backend", "hf", "--model", str(tiny_model_dir), "--dry-run")
    assert forced.stderr.splitlines()[0] == "lf serve inference: backend hf (chosen with --backend)"
    missing = run_cli("serve", "inference", "--dry-run")
    assert missing.returncode == 3 and "needs a model to choose its backend" in missing.stderr


def test_a_vllm_that_fails_to_start_hands_over_to_hf(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "failing_vllm.py").write_text(textwrap.dedent(FAILING_VLLM))
    launcher = [sys.executable, "-c", LAUNCHER.format(dir=str(tmp_path))]
    env = {"LF_PLUGINS": "backend-hf", "COLUMNS": "400"}
    import os

    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        args = ["serve", "inference", "--model", str(tiny_model_dir), "--port", str(port)]
        proc = subprocess.Popen([*launcher, *args], stderr=out, stdout=out, env={**os.environ, **env})
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=180, process=proc)
        served = httpx.get(f"http://127.0.0.1:{port}/health").json()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    lines = log.read_text().splitlines()
    assert lines[0] == "lf serve inference: backend vllm (auto: vllm is importable and supports this model)"
    handover = next(line for line in lines if "falling back" in line)
    assert handover.startswith("warning: lf serve inference: backend hf (auto: not vllm: it failed to start:")
    assert "cannot run this model's attention" in handover
    assert served["backend"] == "hf"

    named = subprocess.run(
        [*launcher, "serve", "inference", "--backend", "vllm", "--model", str(tiny_model_dir), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=180,
    )
    assert named.returncode == 7, named.stderr
    assert "BACKEND_START_FAILED" in named.stderr and "cannot run this model's attention" in named.stderr
    assert "named with --backend" in named.stderr and "Traceback" not in named.stderr
