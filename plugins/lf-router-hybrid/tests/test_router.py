"""The router service over real HTTP: echo ``lf`` servers behind a router, the ``openai`` client in front."""

from __future__ import annotations

import asyncio
import threading

import httpx
import msgspec
import openai
import pytest

KEY = "k" * 40
ADMIN = "a" * 40


def samples(url: str) -> dict[str, float]:
    """``/metrics`` as ``{"name{a="x",b="y"}": value}``."""
    from lf.serve.metrics import parse_labels

    return parse_labels(httpx.get(f"{url}/metrics").text)


@pytest.fixture
def two_experts(helpers):
    """A ``code`` and a ``general`` echo server behind a keyword router."""
    with helpers.echo_thread("code-model") as (code_url, code), helpers.echo_thread("general-model") as (gen_url, gen):
        experts = [
            helpers.expert("general", gen_url, description="Anything else"),
            helpers.expert("code", code_url, keywords=("python", "bug", "function"), max_tokens=64),
        ]
        with helpers.router_thread(experts) as (url, state):
            yield url, state, code, gen


def test_openai_client_auto_named_streamed_and_not(two_experts):
    url, _state, code, gen = two_experts
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["auto", "general", "code"]

    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "why does my python function fail"}]
    )
    chat = raw.parse()
    assert chat.model == "code-model" and chat.choices[0].message.content == "why does my python function fail "
    assert raw.headers["x-lf-expert"] == "code" and raw.headers["x-lf-routing"] == "classified"
    assert float(raw.headers["x-lf-routing-ms"]) >= 0

    chat = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "tell me about cats"}])
    assert chat.model == "general-model"

    named = client.chat.completions.with_raw_response.create(
        model="general", messages=[{"role": "user", "content": "python python bug"}]
    )
    assert named.parse().model == "general-model" and named.headers["x-lf-routing"] == "named"
    assert "x-lf-routing-ms" not in named.headers  # no classification ran

    chunks = list(
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "a python bug here"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a python bug here "
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4 and chunks[0].model == "code-model"

    text = client.completions.create(model="code", prompt="alpha beta gamma", max_tokens=2)
    assert text.choices[0].text == "alpha beta " and text.choices[0].finish_reason == "length"
    pieces = client.completions.create(model="auto", prompt="fix this bug", stream=True)
    assert "".join(p.choices[0].text for p in pieces if p.choices) == "fix this bug "

    async def concurrent() -> list[str]:
        aclient = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        try:
            answers = await asyncio.gather(
                *(
                    aclient.chat.completions.create(model="auto", messages=[{"role": "user", "content": f"bug {i}"}])
                    for i in range(20)
                )
            )
            return [a.choices[0].message.content or "" for a in answers]
        finally:
            await aclient.close()

    assert asyncio.run(concurrent()) == [f"bug {i} " for i in range(20)]
    assert code.finished == 24 and gen.finished == 2

    metrics = samples(url)
    assert metrics['routing_decisions_total{decision="classified",expert="code"}'] == 23
    assert metrics['routing_decisions_total{decision="named",expert="general"}'] == 1
    assert metrics["routing_model_selection_seconds_count"] == 24
    assert metrics["router_proxy_overhead_seconds_count"] == 26
    assert metrics['router_upstream_latency_seconds_count{expert="code"}'] == 24
    assert metrics['router_requests_total{model="code",status="200"}'] == 24
    assert all(v == 0 for k, v in metrics.items() if k.startswith("router_circuit_state"))


def test_expert_defaults_and_errors_in_openai_shape(two_experts):
    url, _state, _code, _gen = two_experts
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    long = " ".join(f"w{i}" for i in range(100))
    chat = client.chat.completions.create(model="code", messages=[{"role": "user", "content": long}])
    assert chat.usage is not None and chat.usage.completion_tokens == 64  # the expert's max_tokens
    for kwargs, status, code_name in (
        ({"model": "nope"}, 404, "MODEL_NOT_FOUND"),
        ({"model": "auto", "temperature": 3}, 400, "INVALID_REQUEST"),
        ({"model": "auto", "messages": []}, 400, "INVALID_REQUEST"),
    ):
        call = {"messages": [{"role": "user", "content": "hi"}], **kwargs}
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(**call)
        assert info.value.status_code == status and info.value.body["code"] == code_name  # type: ignore[index]
    assert "auto, general, code" in httpx.post(f"{url}/v1/chat/completions", json={"model": "x", "messages": [
        {"role": "user", "content": "hi"}]}).json()["error"]["message"]  # fmt: skip
    malformed = httpx.post(f"{url}/v1/chat/completions", content=b"{oops")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "INVALID_REQUEST"
    assert "x-request-id" in malformed.headers
    # an upstream's own error goes back as it came (here: the echo model does not know the adapter)
    assert httpx.get(f"{url}/v1/models/code").json()["id"] == "code"
    assert httpx.get(f"{url}/v1/models/nope").status_code == 404


def test_route_generate_experts_health_ready(two_experts):
    url, _state, code, _gen = two_experts
    decision = httpx.post(f"{url}/route", params={"query": "my python function has a bug"}).json()
    assert decision["expert"] == "code" and decision["endpoint"].startswith("http://127.0.0.1:")
    assert decision["method"] == "keyword" and decision["routing_ms"] >= 0
    assert decision["alternatives"] == [{"expert": "general", "score": 0.0}] and decision["fallback"] is False
    by_body = httpx.post(f"{url}/route", json={"messages": [{"role": "user", "content": "a bug"}], "model": "x"})
    assert by_body.json()["expert"] == "code"
    assert httpx.post(f"{url}/route", json={"query": "bug", "exclude": ["code"]}).json()["expert"] == "general"
    assert httpx.post(f"{url}/route").status_code == 400
    assert code.started == 0  # /route never forwards

    generated = httpx.post(f"{url}/generate", json={"prompt": "python bug in my code"}).json()
    assert generated["text"] == "python bug in my code " and generated["expert"] == "code"
    assert generated["tokens_used"] == 10 and generated["fallback"] is False
    chat = httpx.post(
        f"{url}/generate", json={"messages": [{"role": "user", "content": "hello there"}], "expert": "code"}
    ).json()
    assert chat["text"] == "hello there " and chat["expert"] == "code" and chat["completion_tokens"] == 2
    assert httpx.post(f"{url}/generate", json={"max_tokens": 5}).status_code == 400

    experts = httpx.get(f"{url}/experts").json()
    assert [e["name"] for e in experts["experts"]] == ["general", "code"] and experts["fallback_expert"] == "general"
    view = experts["experts"][1]
    assert view["available"] and view["replicas"][0]["state"] in ("up", "unknown")
    assert view["status"]["requests"] >= 2 and view["definition"]["max_tokens"] == 64
    assert httpx.get(f"{url}/experts/code").json()["name"] == "code"
    assert httpx.get(f"{url}/experts/nope").status_code == 404

    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "healthy" and health["experts"] == 2 and health["available_experts"] == 2
    assert httpx.get(f"{url}/ready").json() == {"ready": True, "reason": None}


def test_streaming_passes_through_token_by_token_and_client_disconnect_cancels(helpers):
    with (
        helpers.echo_thread("slow", token_delay=0.05) as (up, backend),
        helpers.router_thread([helpers.expert("general", up)]) as (url, state),
    ):
        body = {"model": "general", "messages": [{"role": "user", "content": " ".join(["w"] * 40)}], "stream": True}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data:") and '"content":"w' in line)
            # the first token reached the client while the upstream was still generating
            assert first and backend.running == 1 and backend.finished == 0
        helpers.wait_until(lambda: backend.cancelled == 1)  # leaving mid-stream stops the upstream
        assert backend.finished == 0

        done = threading.Event()

        def leave_early() -> None:  # a non-streamed request whose client gives up
            try:
                httpx.post(f"{url}/v1/chat/completions", json={**body, "stream": False}, timeout=0.5)
            except httpx.TimeoutException:
                done.set()

        leave_early()
        assert done.is_set()
        helpers.wait_until(lambda: backend.cancelled == 2)
        helpers.wait_until(lambda: state.admission.active == 0)


def test_fallback_answers_when_every_replica_is_down(helpers):
    from lf.testing import free_port

    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with helpers.echo_thread("general-model") as (gen_url, gen):
        experts = [helpers.expert("general", gen_url), helpers.expert("code", *dead, keywords=("python",))]
        with helpers.router_thread(experts, health_checks={"interval_s": 0.2}) as (url, state):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            # before any health check noticed: the tries fail, then the fallback answers the same request
            raw = client.chat.completions.with_raw_response.create(
                model="code", messages=[{"role": "user", "content": "python"}]
            )
            assert raw.parse().model == "general-model"
            assert raw.headers["x-lf-routing"] == "fallback" and raw.headers["x-lf-fallback-from"] == "code"
            assert raw.http_response.json()["router"]["fallback_from"] == "code"
            helpers.wait_until(lambda: not state.pool.has_available("code"))
            for model in ("auto", "code"):
                raw = client.chat.completions.with_raw_response.create(
                    model=model, messages=[{"role": "user", "content": "python question"}]
                )
                assert raw.parse().model == "general-model" and raw.headers["x-lf-fallback-from"] == "code"
                assert raw.http_response.json()["router"]["reason"] == "no healthy replica of 'code'"
            stream = httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "code", "messages": [{"role": "user", "content": "x"}], "stream": True},
            )
            first = msgspec.json.decode(stream.text.split("\n\n")[0][6:])
            assert first["router"]["fallback"] is True and stream.headers["x-lf-fallback-from"] == "code"
            generated = httpx.post(f"{url}/generate", json={"prompt": "python"}).json()
            assert generated["fallback"] and generated["fallback_from"] == "code" and generated["expert"] == "general"
            assert httpx.post(f"{url}/route", json={"query": "python"}).json()["unavailable"] == ["code"]
            health = httpx.get(f"{url}/health").json()
            assert health["status"] == "degraded" and "no healthy replica of 'code'" in health["reasons"]
            metrics = samples(url)
            assert metrics['routing_decisions_total{decision="fallback",expert="general"}'] >= 4
            assert metrics['router_fallbacks_total{from_expert="code",to_expert="general"}'] >= 4
            view = httpx.get(f"{url}/experts/code").json()
            assert not view["available"] and {r["state"] for r in view["replicas"]} <= {"down", "open"}
            assert gen.finished == 5

        # with the fallback down too: 503 with Retry-After, in OpenAI's error shape
        experts = [helpers.expert("general", dead[0]), helpers.expert("code", dead[1])]
        with helpers.router_thread(experts) as (url, state):
            response = httpx.post(
                f"{url}/v1/chat/completions", json={"model": "code", "messages": [{"role": "user", "content": "x"}]}
            )
            assert response.status_code == 503 and response.json()["error"]["code"] == "MODEL_OVERLOADED"
            assert response.headers["retry-after"] == "1"
            assert httpx.get(f"{url}/ready").status_code in (200, 503)
            helpers.wait_until(lambda: httpx.get(f"{url}/ready").status_code == 503)
            assert httpx.get(f"{url}/health").json()["status"] == "unhealthy"


def test_keys_and_admin_keys_guard_the_router(helpers, tmp_path):
    with helpers.echo_thread("general-model") as (gen_url, _gen):
        registry = tmp_path / "experts.yaml"
        with helpers.router_thread(
            [helpers.expert("general", gen_url)], registry=registry, api_keys=[KEY], admin_keys=[ADMIN]
        ) as (url, _state):
            body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
            denied = httpx.post(f"{url}/v1/chat/completions", json=body)
            assert denied.status_code == 401 and denied.json()["error"]["code"] == "AUTHENTICATION_FAILED"
            assert httpx.post(f"{url}/route", params={"query": "x"}).status_code == 401
            ok = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
            assert ok.status_code == 200
            assert httpx.get(f"{url}/experts", headers={"X-API-Key": KEY}).status_code == 200
            assert httpx.get(f"{url}/health").status_code == 200  # probes need no key

            new = {"name": "code", "description": "Programming", "keywords": ["python"], "endpoint": gen_url}
            forbidden = httpx.post(f"{url}/experts", json=new, headers={"X-API-Key": KEY})
            assert forbidden.status_code == 403
            created = httpx.post(f"{url}/experts", json=new, headers={"X-API-Key": ADMIN})
            assert created.status_code == 201 and created.json()["name"] == "code" and created.json()["version"] == 1
            assert "name: code" in registry.read_text()  # written to the shared file
            duplicate = httpx.post(f"{url}/experts", json=new, headers={"X-API-Key": ADMIN})
            assert duplicate.status_code == 400 and "already exists" in duplicate.json()["error"]["message"]
            replaced = httpx.post(
                f"{url}/experts", params={"replace": "true"}, json={**new, "priority": 2}, headers={"X-API-Key": ADMIN}
            )
            assert replaced.status_code == 201 and replaced.json()["version"] == 2
            bad = httpx.post(f"{url}/experts", json={"name": "x", "temperature": 9}, headers={"X-API-Key": ADMIN})
            assert bad.status_code == 400 and "temperature" in bad.json()["error"]["message"]
            routed = httpx.post(
                f"{url}/route", params={"query": "python please"}, headers={"Authorization": f"Bearer {KEY}"}
            )
            assert routed.json()["expert"] == "code"  # the classifier knows it at once
            removed = httpx.delete(f"{url}/experts/code", headers={"X-API-Key": ADMIN})
            assert removed.json() == {"removed": "code", "version": 2}
            assert httpx.delete(f"{url}/experts/code", headers={"X-API-Key": ADMIN}).status_code == 404
            models = httpx.get(f"{url}/v1/models", headers={"X-API-Key": KEY}).json()["data"]
            assert [m["id"] for m in models] == ["auto", "general"]


def test_a_user_key_cannot_change_experts_without_admin_keys(helpers, tmp_path):
    """Hardening #2: with keys on and no admin_keys, a user key used to replace the `general` expert."""
    with helpers.echo_thread("general-model") as (gen_url, _gen):
        registry = tmp_path / "experts.yaml"
        with helpers.router_thread([helpers.expert("general", gen_url)], registry=registry, api_keys=[KEY]) as (
            url,
            _state,
        ):
            user = {"X-API-Key": KEY}
            hijack = {"name": "general", "description": "mine", "endpoint": "http://127.0.0.1:9"}
            refused = httpx.post(f"{url}/experts", params={"replace": "true"}, json=hijack, headers=user)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
            assert httpx.delete(f"{url}/experts/general", headers=user).status_code == 403
            assert gen_url in registry.read_text() and "9/" not in registry.read_text()
            assert httpx.get(f"{url}/experts", headers=user).status_code == 200  # reading stays a user right


def test_registry_changes_from_another_process_are_picked_up(helpers, tmp_path):
    from lf.experts import ExpertManager

    registry = tmp_path / "experts.yaml"
    with (
        helpers.echo_thread("general-model") as (gen_url, _),
        helpers.echo_thread("code-model") as (code_url, _),
        helpers.router_thread([helpers.expert("general", gen_url)], registry=registry, registry_poll_s=0.1) as (url, _),
    ):
        other = ExpertManager(registry)  # "another process": its own manager on the same file
        other.register_expert(helpers.expert("code", code_url, keywords=("python",)))
        helpers.wait_until(lambda: "code" in [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]])
        answer = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "python"}]},
        )
        assert answer.json()["model"] == "code-model"
        other.update_expert("code", enabled=False)
        helpers.wait_until(lambda: "code" not in [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]])
        disabled = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "code", "messages": [{"role": "user", "content": "x"}]}
        )
        assert disabled.status_code == 404 and "disabled" in disabled.json()["error"]["message"]
        registry.write_text("experts: [ {name: broken")  # a bad edit: the last good registry stays in use
        helpers.wait_until(lambda: httpx.get(f"{url}/experts").json()["registry_error"])
        assert httpx.get(f"{url}/health").json()["status"] == "degraded"
        assert [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]] == ["auto", "general"]


def test_balancing_spreads_requests_over_replicas(helpers):
    with helpers.echo_thread("m") as (a_url, a), helpers.echo_thread("m") as (b_url, b):
        for strategy in ("round_robin", "least_connections", "latency", "weighted"):
            with helpers.router_thread([helpers.expert("general", a_url, b_url)], balancing=strategy) as (url, _):
                before = (a.finished, b.finished)
                for _ in range(20):
                    body = {"model": "general", "messages": [{"role": "user", "content": "x"}]}
                    assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200
                served = (a.finished - before[0], b.finished - before[1])
                assert sum(served) == 20 and min(served) >= (10 if strategy in ("round_robin", "weighted") else 1)


def test_neural_and_hybrid_classifiers_run_off_the_event_loop(helpers, default_neural):
    from lf_router_hybrid import HybridClassifier, KeywordClassifier, default_experts

    experts = default_experts()
    hybrid = HybridClassifier(KeywordClassifier(), default_neural)
    with helpers.echo_thread("m") as (up, _backend):
        endpoints = [msgspec.structs.replace(e, endpoints=[helpers.expert("x", up).endpoints[0]]) for e in experts]
        with helpers.router_thread(endpoints, classifier=hybrid) as (url, state):
            hybrid.sync_experts(endpoints)
            questions = {
                "How do I merge two dictionaries in Python?": "code",
                "What is the derivative of e to the 2x?": "math",
                "Write a limerick about a cat who loves pizza.": "writing",
                "Why do leaves change color in the fall?": "general",
            }

            async def ask() -> list[str]:
                async with httpx.AsyncClient(timeout=60) as client:
                    answers = await asyncio.gather(
                        *(client.post(f"{url}/route", json={"query": q}) for q in list(questions) * 4)
                    )
                return [a.json()["expert"] for a in answers]

            assert asyncio.run(ask()) == list(questions.values()) * 4
            assert state.selector.passes >= 1 and state.selector.queries <= 16
