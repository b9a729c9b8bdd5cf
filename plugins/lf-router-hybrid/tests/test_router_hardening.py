"""The router against an attacker and an unlucky operator: where it may send requests, what cannot stall it."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest

KEY = "u" * 40
ADMIN = "a" * 40
ASK = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",
        "http://10.0.0.5:8000",
        "http://192.168.1.10:8000",
        "http://metadata.google.internal/",
        "http://user:pass@127.0.0.1:9/",
    ],
)
def test_post_experts_refuses_internal_addresses(helpers, tmp_path, endpoint):
    """SSRF: the API used to accept any URL and the health checker contacted it at once."""
    registry = tmp_path / "experts.yaml"
    with helpers.echo_thread("general-model") as (gen_url, _):
        experts = [helpers.expert("general", gen_url)]
        with helpers.router_thread(experts, registry=registry, admin_keys=[ADMIN]) as (url, router):
            before = registry.read_bytes()
            body = {"name": "evil", "description": "x", "endpoint": endpoint}
            refused = httpx.post(f"{url}/experts", json=body, headers={"X-API-Key": ADMIN})
            assert refused.status_code == 400, refused.text
            assert registry.read_bytes() == before
            assert [r.url for r in router.pool.replicas()] == [gen_url]  # never contacted


def test_api_endpoints_are_normalized_and_private_ones_need_an_allow_list(helpers, tmp_path):
    registry = tmp_path / "experts.yaml"
    with helpers.echo_thread("general-model") as (gen_url, _):
        experts = [helpers.expert("general", gen_url)]
        options = {"admin_keys": [ADMIN], "egress": {"allowed_networks": ["10.0.0.0/8"]}}
        with helpers.router_thread(experts, registry=registry, **options) as (url, _router):
            admin = {"X-API-Key": ADMIN}
            odd = {"name": "code", "description": "x", "endpoint": f"{gen_url}//v1/"}
            stored = httpx.post(f"{url}/experts", json=odd, headers=admin)
            assert stored.status_code == 201 and stored.json()["endpoint"] == f"{gen_url}/v1"
            sneaky = {"name": "code2", "description": "x", "endpoint": f"{gen_url}/v1?next=/admin"}
            assert httpx.post(f"{url}/experts", json=sneaky, headers=admin).status_code == 400
            private = {"name": "lan", "description": "x", "endpoint": "http://10.1.2.3:8000"}
            assert httpx.post(f"{url}/experts", json=private, headers=admin).status_code == 201  # allowed by CIDR


def test_the_upstream_key_goes_only_to_the_hosts_it_is_meant_for(helpers, tmp_path):
    """An expert added through the API never receives the router's upstream key."""
    from lf.serve.app import create_app
    from lf.testing import running_server
    from lf.testing.echo_backend import EchoBackend, EchoConfig

    upstream_key = "s" * 40
    keyed = create_app(EchoBackend(), EchoConfig(model="general-model", api_keys=[upstream_key]))
    with running_server(keyed) as gen_url:
        experts = [helpers.expert("general", gen_url)]
        options = {"api_keys": [KEY], "admin_keys": [ADMIN], "upstream": {"api_key": upstream_key}}
        user = {"X-API-Key": KEY}
        with helpers.router_thread(experts, registry=tmp_path / "experts.yaml", **options) as (url, _router):
            answer = httpx.post(f"{url}/v1/chat/completions", json=ASK, headers=user)
            assert answer.status_code == 200  # the key goes to the registry's hosts at start
            other = gen_url.replace("127.0.0.1", "localhost")  # same server, a host added later
            body = {"name": "other", "description": "x", "endpoint": other}
            assert httpx.post(f"{url}/experts", json=body, headers={"X-API-Key": ADMIN}).status_code == 201
            named = httpx.post(f"{url}/v1/chat/completions", json={**ASK, "model": "other"}, headers=user)
            assert named.status_code == 401  # the upstream refused: no key went there


def test_a_slow_regex_keyword_cannot_stall_the_router(helpers):
    """`/(a+)+$/` doubles its time per character; queries that trip it run off the event loop."""
    from lf_router_hybrid import KeywordClassifier

    experts = [helpers.expert("general"), helpers.expert("slow", keywords=("/(a+)+$/",))]
    classifier = KeywordClassifier.from_experts(experts)
    with helpers.router_thread(experts, classifier=classifier) as (url, _router):

        async def attack_and_probe() -> tuple[list[int], int]:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                attacks = [
                    asyncio.create_task(client.post("/route", json={"query": "a" * 5000 + "!"})) for _ in range(8)
                ]
                await asyncio.sleep(0.05)
                health = await client.get("/health")
                done = await asyncio.gather(*attacks)
                return [r.status_code for r in done], health.status_code

        statuses, health = asyncio.run(attack_and_probe())
        assert health == 200 and statuses == [200] * 8
    assert classifier.regex_timeouts >= 8  # the guard cut every search


def test_an_invalid_regex_through_the_api_is_refused_and_not_saved(helpers, tmp_path):
    registry = tmp_path / "experts.yaml"
    with helpers.router_thread([helpers.expert("general")], registry=registry, admin_keys=[ADMIN]) as (url, _r):
        before = registry.read_bytes()
        bad = {"name": "broken", "description": "x", "keywords": ["/([/"]}
        refused = httpx.post(f"{url}/experts", json=bad, headers={"X-API-Key": ADMIN})
        assert refused.status_code == 400 and "regular expression" in refused.json()["error"]["message"]
        assert registry.read_bytes() == before
        good = {"name": "ok", "description": "x", "keywords": ["fine"]}
        assert httpx.post(f"{url}/experts", json=good, headers={"X-API-Key": ADMIN}).status_code == 201


def test_a_truncated_registry_keeps_the_last_good_one_and_reports_degraded(helpers, tmp_path):
    registry = tmp_path / "experts.yaml"
    with helpers.echo_thread("general-model") as (gen_url, _):
        experts = [helpers.expert("general", gen_url), helpers.expert("code", gen_url, keywords=("python",))]
        with helpers.router_thread(experts, registry=registry, registry_poll_s=0.1) as (url, _router):
            text = registry.read_text()
            registry.write_text(text[: text.index("- name: code")])  # cut between two entries
            helpers.wait_until(lambda: httpx.get(f"{url}/health").json()["status"] == "degraded", timeout=20)
            reasons = httpx.get(f"{url}/health").json()["reasons"]
            assert any("registry not reloaded" in r for r in reasons)
            routed = httpx.post(f"{url}/route", json={"query": "a python question"}).json()
            assert routed["expert"] == "code"  # still the last good registry
            assert httpx.post(f"{url}/v1/chat/completions", json=ASK).status_code == 200


def test_bad_bodies_and_unsupported_parameters_are_400_on_the_router(helpers):
    with helpers.echo_thread("general-model") as (gen_url, backend):
        experts = [helpers.expert("general", gen_url)]
        with helpers.router_thread(experts, admin_keys=[ADMIN]) as (url, router):
            deep = b"[" * 100_000 + b"]" * 100_000
            for path, body in [
                ("/v1/chat/completions", b'{"model":"auto","messages":' + deep + b"}"),
                ("/v1/chat/completions", b'{"model":"auto","messages":[{"role":"user","content":"\xff"}]}'),
                ("/experts", b'{"name":"x","endpoint":' + deep + b"}"),
                ("/route", b'{"query":' + deep + b"}"),
            ]:
                headers = {"content-type": "application/json", "X-API-Key": ADMIN}
                answer = httpx.post(f"{url}{path}", content=body, headers=headers)
                assert answer.status_code == 400, (path, answer.text)
            admin = {"X-API-Key": ADMIN}
            body = {**ASK, "response_format": {"type": "json_object"}}
            tools = httpx.post(f"{url}/v1/chat/completions", json=body, headers=admin)
            assert tools.status_code == 400 and tools.json()["error"]["param"] == "response_format"
            assert backend.started == 0  # nothing reached the expert
            assert all(r.breaker.state == "closed" and r.failures == 0 for r in router.pool.replicas())
            assert httpx.post(f"{url}/v1/chat/completions", json=ASK, headers=admin).status_code == 200


@pytest.mark.slow
def test_a_request_on_a_replica_that_hangs_is_retried_elsewhere(helpers):
    """A replica stops answering (SIGSTOP): its health check fails and the waiting request moves on."""
    with (
        helpers.echo_process("general-model", token_delay=0.2) as hung,
        helpers.echo_thread("general-model") as (
            good_url,
            _,
        ),
    ):
        experts = [helpers.expert("general", hung.url, good_url)]
        options = {"health_checks": {"interval_s": 0.3, "timeout_s": 0.5}, "limits": {"request_timeout_s": 120}}
        with helpers.router_thread(experts, **options) as (url, router):
            helpers.wait_until(lambda: all(r.healthy for r in router.pool.replicas()), timeout=30)

            async def ask_while_it_hangs() -> httpx.Response:
                async with httpx.AsyncClient(timeout=120) as client:
                    words = " ".join(f"w{i}" for i in range(50))  # 10 s on the slow replica
                    body = {"model": "general", "prompt": words, "max_tokens": 60}
                    first = asyncio.create_task(client.post(f"{url}/v1/completions", json=body))
                    await asyncio.sleep(0.5)  # it is in flight on the first replica (round robin)
                    os.kill(hung.proc.pid, signal.SIGSTOP)
                    return await first

            try:
                answer = asyncio.run(ask_while_it_hangs())
            finally:
                os.kill(hung.proc.pid, signal.SIGCONT)
            assert answer.status_code == 200, answer.text
            failures = httpx.get(f"{url}/metrics").text
            assert 'type="down"' in failures  # abandoned because the health check failed, then retried
