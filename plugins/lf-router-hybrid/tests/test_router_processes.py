"""The router as users run it: the real ``lf`` commands, servers in their own processes, crashes.

Covers the issue's "Done when": ``lf expert add ... --endpoint URL`` and ``lf expert list
--json`` as written; two ``lf`` inference servers (lf-backend-hf, tiny models) behind the
router; a replica killed under steady load loses no non-streaming request, its breaker
opens and closes again when it returns; 1,000 concurrent requests with memory back to its
level; a second router process sees an expert added by ``lf expert add`` without restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lf.testing import free_port, run_cli
from lf.testing.cli import lf_executable

ADMIN = "m" * 40
KEY = "router-key-" + "x" * 32


def router_process(helpers: Any, args: list[str], port: int, env: dict[str, str]) -> Any:
    """``lf ARGS`` serving a router on ``port``; waits for /health."""
    proc = helpers.Process([lf_executable(), *args], port, env={"COLUMNS": "200", **env})
    helpers.wait_until(lambda: _get(f"{proc.url}/health") == 200, timeout=120)
    return proc


def _get(url: str, **kwargs: Any) -> int:
    try:
        return httpx.get(url, timeout=5, **kwargs).status_code
    except httpx.TransportError:
        return 0


def all_replicas_up(url: str) -> bool:
    experts = httpx.get(f"{url}/experts", timeout=10).json()["experts"]
    return all(r["state"] == "up" for e in experts for r in e["replicas"])


def models(url: str, key: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return [m["id"] for m in httpx.get(f"{url}/v1/models", headers=headers, timeout=10).json()["data"]]


@pytest.mark.slow
def test_two_hf_servers_behind_the_router_with_experts_added_by_the_cli(helpers, tiny_model_dir, tmp_path):
    registry = tmp_path / "experts.yaml"
    env = {"LF_EXPERTS_FILE": str(registry)}
    servers = []
    for name in ("code-model", "general-model"):
        port = free_port()
        args = [lf_executable(), "run", "serve", "--plugin", "hf", "--set", f"model={tiny_model_dir}"]
        args += ["--set", f"served_model_name={name}", "--set", f"port={port}", "--set", "log_level=warning"]
        servers.append(helpers.Process(args, port))
    try:
        code_url, general_url = servers[0].url, servers[1].url
        added = run_cli(
            "expert", "add", "code", "--description", "Programming help", "--keywords", "python,bug,stack trace",
            "--endpoint", code_url, env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        added = run_cli(
            "expert", "add", "general", "--description", "Anything else", "--endpoint", general_url, env=env
        )
        assert added.returncode == 0, added.stderr
        listed = run_cli("expert", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        experts = {e["name"]: e for e in json.loads(listed.stdout)}
        assert experts["code"]["keywords"] == ["python", "bug", "stack trace"]
        assert experts["code"]["endpoints"] == [{"url": code_url, "weight": 1.0}]
        assert [e["url"] for e in experts["general"]["endpoints"]] == [general_url]

        port = free_port()
        config = tmp_path / "router.yaml"
        config.write_text(
            f"registry: {registry}\nport: {port}\nlog_level: warning\nhealth_checks:\n  interval_s: 0.5\n"
        )
        router = router_process(helpers, ["run", "route", "--plugin", "keyword", "--config", str(config)], port, {})
        try:
            helpers.wait_until(lambda: _get(f"{router.url}/ready") == 200, timeout=180)
            helpers.wait_until(lambda: all_replicas_up(router.url), timeout=180)  # both models loaded
            client = openai.OpenAI(base_url=f"{router.url}/v1", api_key="unused", max_retries=0, timeout=120)
            assert models(router.url) == ["auto", "code", "general"]
            ask = [{"role": "user", "content": "I found a bug in my python code"}]
            chat = client.chat.completions.create(model="auto", messages=ask, max_tokens=4, temperature=0)
            assert chat.model == "code-model" and chat.usage is not None and chat.usage.completion_tokens >= 1
            chat = client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "Plan a weekend in Lisbon"}], max_tokens=4
            )
            assert chat.model == "general-model"
            streamed = list(
                client.chat.completions.create(model="auto", messages=ask, max_tokens=4, temperature=0, stream=True)
            )
            assert streamed[0].model == "code-model"
            text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
            again = client.chat.completions.create(model="code", messages=ask, max_tokens=4, temperature=0)
            assert text == again.choices[0].message.content  # greedy: the same tokens, streamed or not
            view = {e["name"]: e for e in httpx.get(f"{router.url}/experts").json()["experts"]}
            assert view["code"]["replicas"][0]["models"] == ["code-model"]
            assert view["code"]["replicas"][0]["state"] == "up"
        finally:
            router.stop()
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
def test_killing_a_replica_under_load_loses_no_request_and_the_breaker_recovers(helpers):
    with helpers.echo_process("m", token_delay=0.02) as a, helpers.echo_process("m", token_delay=0.02) as b:
        experts = [helpers.expert("general", a.url, b.url)]
        options = {
            "breaker": {"failure_threshold": 3, "open_timeout_s": 1.0},
            "health_checks": {"interval_s": 0.5, "timeout_s": 1.0},
            "retries": {"attempts": 4, "backoff_s": 0.02},
        }
        with helpers.router_thread(experts, **options) as (url, state):
            replica_a = next(r for r in state.pool.replicas() if r.url == a.url)
            statuses: list[int] = []
            stop = threading.Event()

            async def steady_load() -> None:
                async with httpx.AsyncClient(timeout=60) as client:

                    async def worker() -> None:
                        body = {"model": "general", "messages": [{"role": "user", "content": "one two three four"}]}
                        while not stop.is_set():
                            response = await client.post(f"{url}/v1/chat/completions", json=body)
                            statuses.append(response.status_code)

                    await asyncio.gather(*(worker() for _ in range(8)))

            load = threading.Thread(target=asyncio.run, args=(steady_load(),))
            load.start()
            try:
                helpers.wait_until(lambda: len(statuses) >= 40 and replica_a.in_flight > 0)
                a.kill()  # mid-request: its connections die with it
                killed_at = len(statuses)
                helpers.wait_until(lambda: replica_a.breaker.state == "open")
                helpers.wait_until(lambda: len(statuses) >= killed_at + 60)
            finally:
                stop.set()
                load.join(timeout=60)
            assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
            metrics = httpx.get(f"{url}/metrics").text
            assert f'router_circuit_state{{replica="{a.url}"}} 2.0' in metrics
            assert 'router_retries_total{expert="general"}' in metrics
            assert f'router_upstream_failures_total{{expert="general",replica="{a.url}"' in metrics

            a.start()  # the replica comes back on the same port
            helpers.wait_until(lambda: replica_a.breaker.state == "closed" and replica_a.state() == "up")
            served_before = replica_a.requests
            for _ in range(10):
                body = {"model": "general", "messages": [{"role": "user", "content": "x"}]}
                assert httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30).status_code == 200
            assert replica_a.requests > served_before  # it takes traffic again
            assert f'router_circuit_state{{replica="{a.url}"}} 0.0' in httpx.get(f"{url}/metrics").text
            assert b.proc is not None and b.proc.poll() is None


@pytest.mark.slow
def test_a_thousand_concurrent_requests_and_memory_comes_back(helpers, tmp_path):
    with helpers.echo_process("m") as upstream:
        registry = tmp_path / "experts.yaml"
        from lf.experts import ExpertManager

        ExpertManager(registry).register_expert(helpers.expert("general", upstream.url))
        port = free_port()
        env = {"LF_EXPERTS_FILE": str(registry)}
        args = ["serve", "router", "--classifier", "keyword", "--port", str(port), "--set", "log_level=warning"]
        router = router_process(helpers, args, port, env)
        try:

            async def burst(n: int) -> list[int]:
                limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
                async with httpx.AsyncClient(limits=limits, timeout=120) as client:
                    body = {"model": "auto", "messages": [{"role": "user", "content": "hello router"}]}
                    answers = await asyncio.gather(
                        *(client.post(f"{router.url}/v1/chat/completions", json=body) for _ in range(n)),
                        return_exceptions=True,
                    )
                return [a.status_code if isinstance(a, httpx.Response) else -1 for a in answers]

            asyncio.run(burst(50))
            time.sleep(1)
            idle = router.rss_bytes()
            after = []
            for _ in range(3):
                statuses = asyncio.run(burst(1000))
                assert statuses == [200] * 1000, {s: statuses.count(s) for s in set(statuses)}
                time.sleep(2)
                after.append(router.rss_bytes())
            mib = [round(x / 2**20, 1) for x in (idle, *after)]
            print(f"router RSS (MiB): idle {mib[0]}, after each burst of 1000: {mib[1:]}")
            assert after[2] <= after[0] * 1.05 + 8 * 2**20, mib  # no growth from burst to burst
            assert after[2] <= idle * 1.5 + 16 * 2**20, mib  # about where it was before the load
            metrics = httpx.get(f"{router.url}/metrics").text
            assert 'router_requests_total{model="general",status="200"} 3050.0' in metrics
            assert "router_active_requests 0.0" in metrics
        finally:
            router.stop()


@pytest.mark.slow
def test_a_second_router_process_sees_experts_added_without_restart(helpers, tmp_path):
    registry = tmp_path / "experts.yaml"
    with helpers.echo_thread("general-model") as (general_url, _), helpers.echo_thread("code-model") as (code_url, _):
        added = run_cli("expert", "add", "general", "--description", "Anything", "--endpoint", general_url,
                        env={"LF_EXPERTS_FILE": str(registry)})  # fmt: skip
        assert added.returncode == 0, added.stderr
        port_a, port_b = free_port(), free_port()
        # as the deploy manifests run it: LF_EXPERTS_FILE and LF_HYBRID_API_KEYS, the default (hybrid) classifier
        env_a = {"LF_EXPERTS_FILE": str(registry), "LF_HYBRID_API_KEYS": KEY, "LF_HYBRID_ADMIN_KEYS": ADMIN}
        a = router_process(helpers, ["serve", "router", "--host", "127.0.0.1", "--port", str(port_a)], port_a, env_a)
        config = tmp_path / "router-b.yaml"
        config.write_text(f"registry: {registry}\nport: {port_b}\nregistry_poll_s: 0.2\n")
        b = router_process(helpers, ["run", "route", "--plugin", "keyword", "--config", str(config)], port_b, {})
        try:
            assert httpx.get(f"{a.url}/v1/models").status_code == 401  # the key from LF_HYBRID_API_KEYS
            assert models(a.url, KEY) == models(b.url) == ["auto", "general"]
            added = run_cli(
                "expert", "add", "code", "--description", "Programming help", "--keywords", "python,bug",
                "--endpoint", code_url, env={"LF_EXPERTS_FILE": str(registry)},
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            for url, key in ((a.url, KEY), (b.url, None)):
                helpers.wait_until(lambda u=url, k=key: "code" in models(u, k), timeout=30)
            headers = {"Authorization": f"Bearer {KEY}"}
            ask = {"model": "auto", "messages": [{"role": "user", "content": "a python bug"}]}
            for url, h in ((a.url, headers), (b.url, {})):
                answer = httpx.post(f"{url}/v1/chat/completions", json=ask, headers=h, timeout=60)
                assert answer.json()["model"] == "code-model" and answer.headers["x-lf-expert"] == "code"
            # a change made through one router's API reaches the other through the file
            writing = {"name": "writing", "description": "Essays", "keywords": ["essay"], "endpoint": general_url}
            assert httpx.post(f"{a.url}/experts", json=writing, headers=headers).status_code == 403  # a user key
            admin = {"Authorization": f"Bearer {ADMIN}"}
            assert httpx.post(f"{a.url}/experts", json=writing, headers=admin).status_code == 201
            helpers.wait_until(lambda: "writing" in models(b.url), timeout=30)
            assert httpx.delete(f"{b.url}/experts/writing").status_code == 200
            helpers.wait_until(lambda: "writing" not in models(a.url, KEY), timeout=30)
            listed = run_cli("expert", "list", "--json", env={"LF_EXPERTS_FILE": str(registry)})
            assert [e["name"] for e in json.loads(listed.stdout)] == ["general", "code"]
        finally:
            a.stop()
            b.stop()


def test_serve_router_refuses_a_bad_setup_quickly(tmp_path):
    env = {"LF_EXPERTS_FILE": str(tmp_path / "experts.yaml")}
    exposed = run_cli("serve", "router", "--host", "0.0.0.0", "--classifier", "keyword", env=env)
    assert exposed.returncode == 3 and "without an API key" in exposed.stderr
    short = run_cli("serve", "router", "--classifier", "keyword", env={**env, "LF_KEYWORD_API_KEYS": "short"})
    assert short.returncode == 3 and "at least 32" in short.stderr
    bad = run_cli("serve", "router", "--classifier", "keyword", "--balancing", "random", env=env)
    assert bad.returncode == 3 and "balancing" in bad.stderr
    dry = run_cli("serve", "router", "--classifier", "keyword", "--port", "9123", "--dry-run", env=env)
    assert dry.returncode == 0 and "port: 9123" in dry.stdout and "balancing: round_robin" in dry.stdout
    assert "router" in run_cli("serve", "--help").stdout
    help_text = run_cli("route", "hybrid", "--help").stdout
    assert "--port" in help_text and "--balancing" in help_text
    assert os.path.exists(lf_executable()) and sys.executable


def test_router_package_import_stays_cheap():
    heavy = "('litestar', 'httpx', 'torch', 'uvicorn')"
    code = f"import sys, lf_router_hybrid; print(sorted(m for m in {heavy} if m in sys.modules))"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert Path(lf_executable()).exists()
