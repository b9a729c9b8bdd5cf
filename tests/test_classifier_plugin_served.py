"""The contract, end to end: a classifier package that depends on lf-core alone, served by the router.

Built from the `lf plugin new route` template in a temporary directory (one option of
its own), pip-installed into a private directory (not on the path), then served with
`lf serve router --classifier NAME --set option=...` in front of two real tiny-model
servers; the official `openai` client asks with `model="auto"`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from lf.testing import free_port, install_into, run_cli, wait_ready
from lf.testing.cli import lf_executable


@contextlib.contextmanager
def lf_process(args: list[str], port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``lf ARGS`` in its own process until the block ends."""
    proc = subprocess.Popen(
        [lf_executable(), *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=180, process=proc)
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_third_party_classifier_with_an_option_routes_and_falls_back(tmp_path: Path, tiny_model_dir: Path) -> None:
    made = run_cli("plugin", "new", "route", "overlap", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    package = tmp_path / "lf-classifier-overlap"
    assert '"lf-core>=0.1"]' in (package / "pyproject.toml").read_text()  # nothing else of ours
    site = install_into(tmp_path / "site", package)
    registry = tmp_path / "experts.yaml"
    env = {"PYTHONPATH": str(site), "LF_EXPERTS_FILE": str(registry)}
    general_port, code_port, router_port = free_port(), free_port(), free_port()

    def serve(name: str, port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
        args = ["serve", "hf", "--model", str(tiny_model_dir), "--port", str(port), "--served-model-name", name]
        return lf_process(args, port, env)

    with serve("general-model", general_port), serve("code-model", code_port) as code_server:
        for name, port, keywords in (("general", general_port, "story"), ("code", code_port, "python,function,bug")):
            added = run_cli(
                "expert", "add", name, "--keywords", keywords, "--endpoint", f"http://127.0.0.1:{port}", env=env
            )
            assert added.returncode == 0, added.stderr
        args = ["serve", "router", "--classifier", "overlap", "--port", str(router_port)]
        args += ["--set", "min_shared_words=2", "--set", "health_checks.interval_s=0.5"]
        with lf_process(args, router_port, env):
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{router_port}/v1", api_key="unused", max_retries=0)

            def ask(query: str) -> tuple[httpx.Headers, str]:
                raw = client.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": query}], max_tokens=4
                )
                return raw.headers, raw.parse().model

            headers, model = ask("Fix the bug in my python function")
            assert (headers["x-lf-expert"], headers["x-lf-routing"], model) == ("code", "classified", "code-model")
            headers, model = ask("my python script")  # one shared word: below min_shared_words=2
            assert (headers["x-lf-expert"], model) == ("general", "general-model")
            assert "x-lf-fallback-from" not in headers

            code_server.kill()
            code_server.wait(timeout=30)
            headers, model = ask("Fix the bug in my python function")
            assert headers["x-lf-expert"] == "general" and model == "general-model"
            assert headers["x-lf-routing"] == "fallback" and headers["x-lf-fallback-from"] == "code"
            metrics = httpx.get(f"http://127.0.0.1:{router_port}/metrics").text
            assert 'router_fallbacks_total{from_expert="code",to_expert="general"}' in metrics
