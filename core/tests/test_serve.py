"""The OpenAI-compatible server (lf.serve) driven over real HTTP with the echo backend."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time

import httpx
import msgspec
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lf.client import AsyncInferenceClient, InferenceClient
from lf.errors import AuthenticationError, ConfigError, ModelNotFoundError, RateLimitedError
from lf.logs import JsonFormatter
from lf.serve.app import create_app
from lf.serve.auth import check_exposure
from lf.serve.backend import StopStrings, quantization_method
from lf.serve.config import LimitsConfig
from lf.testing import running_server
from lf.testing.echo_backend import EchoBackend, EchoConfig

KEY = "k" * 40
ADMIN = "a" * 40
PROMPT = "the secret prompt words travel here"


def _wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError("server never became ready")


def serve(config: EchoConfig | None = None, backend: EchoBackend | None = None):
    backend = backend or EchoBackend()
    return backend, running_server(create_app(backend, config or EchoConfig(), backend_name="echo"))


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("lf")
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_openai_client_sync_async_and_streaming():
    backend, server = serve()
    with server as url:
        _wait_ready(url)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        assert [m.id for m in client.models.list()] == ["echo"]
        chat = client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "one two three four"}], max_tokens=2
        )
        assert chat.choices[0].message.content == "one two "
        assert chat.choices[0].finish_reason == "length"
        assert (chat.usage.prompt_tokens, chat.usage.completion_tokens, chat.usage.total_tokens) == (4, 2, 6)
        text = client.completions.create(model="echo", prompt="alpha beta gamma delta", stop=["gam"])
        assert text.choices[0].text == "alpha beta " and text.choices[0].finish_reason == "stop"

        chunks = list(
            client.chat.completions.create(
                model="echo",
                messages=[{"role": "user", "content": "a b c"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b c "
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3

        pieces = [c.choices[0].text for c in client.completions.create(model="echo", prompt="x y", stream=True)]
        assert "".join(pieces) == "x y "

        async def run_async():
            aclient = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused")
            results = await asyncio.gather(
                *(
                    aclient.chat.completions.create(model="echo", messages=[{"role": "user", "content": f"n{i} m"}])
                    for i in range(8)
                )
            )
            stream = await aclient.completions.create(model="echo", prompt="p q r", stream=True)
            streamed = [c.choices[0].text async for c in stream]
            await aclient.close()
            return [r.choices[0].message.content for r in results], "".join(streamed)

        answers, streamed = asyncio.run(run_async())
        assert answers == [f"n{i} m " for i in range(8)] and streamed == "p q r "
    assert backend.running == 0


def test_sse_wire_format_ends_with_done():
    _, server = serve()
    with server as url:
        _wait_ready(url)
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-request-id"]
            lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert msgspec.json.decode(lines[1][6:])["object"] == "chat.completion.chunk"


def test_bad_requests_get_openai_errors_and_logs_keep_no_prompt_or_key(captured_logs):
    config = EchoConfig(api_keys=[KEY], limits=LimitsConfig(rate_limit_per_minute=60, rate_limit_burst=12))
    _, server = serve(config)
    with server as url:
        _wait_ready(url)
        good = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        messages = [{"role": "user", "content": PROMPT}]
        no_key = httpx.post(f"{url}/v1/chat/completions", json={"model": "echo", "messages": messages})
        assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "AUTHENTICATION_FAILED"
        wrong = "w" * 40
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key=wrong, max_retries=0).chat.completions.create(
                model="echo", messages=messages
            )
        assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": KEY}).status_code == 200
        assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": wrong}).status_code == 401

        for kwargs, param in (({"max_tokens": 0}, "max_tokens"), ({"temperature": 2.5}, "temperature")):
            with pytest.raises(openai.BadRequestError) as bad:
                good.chat.completions.create(model="echo", messages=messages, **kwargs)
            assert bad.value.body["code"] == "INVALID_REQUEST" and bad.value.body["param"] == param
        with pytest.raises(openai.NotFoundError) as missing:
            good.chat.completions.create(model="gpt-9", messages=messages)
        assert missing.value.body["code"] == "MODEL_NOT_FOUND"
        malformed = httpx.post(
            f"{url}/v1/chat/completions", content=b'{"model": "echo", "messages": [', headers={"X-API-Key": KEY}
        )
        assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "INVALID_REQUEST"
        huge = httpx.post(
            f"{url}/v1/completions",
            json={"model": "echo", "prompt": "x" * 5_000_000},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        statuses = []
        for _ in range(20):
            r = httpx.post(
                f"{url}/v1/completions", json={"model": "echo", "prompt": PROMPT}, headers={"X-API-Key": KEY}
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "RATE_LIMITED"
                break
        assert 429 in statuses
        with pytest.raises(openai.RateLimitError):
            good.completions.create(model="echo", prompt=PROMPT)
    logs = captured_logs.getvalue()
    assert '"status": 401' in logs and '"status": 429' in logs and '"status": 413' in logs
    assert "secret prompt" not in logs and KEY not in logs and wrong not in logs


def test_load_shedding_answers_503_at_once_and_deadline_504():
    config = EchoConfig(token_delay_s=0.2, limits=LimitsConfig(max_concurrent_requests=1, max_queued_requests=1))
    backend, server = serve(config)
    with server as url:
        _wait_ready(url)

        async def burst():
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                body = {"model": "echo", "prompt": "a b c", "max_tokens": 3}
                tasks = [asyncio.create_task(client.post("/v1/completions", json=body)) for _ in range(4)]
                return await asyncio.gather(*tasks)

        responses = asyncio.run(burst())
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 200, 503, 503]
        shed = next(r for r in responses if r.status_code == 503)
        assert shed.headers["retry-after"] == "1" and shed.json()["error"]["code"] == "MODEL_OVERLOADED"
        assert shed.elapsed.total_seconds() < 0.6 * 2  # refused without waiting for the 0.6 s generations
        assert httpx.get(f"{url}/health").json()["status"] == "degraded"

    slow = EchoConfig(token_delay_s=0.3, limits=LimitsConfig(request_timeout_s=0.5))
    backend, server = serve(slow)
    with server as url:
        _wait_ready(url)
        late = httpx.post(f"{url}/v1/completions", json={"model": "echo", "prompt": "a b c d e f"})
        assert late.status_code == 504 and late.json()["error"]["code"] == "TIMEOUT"
        body = {"model": "echo", "prompt": "a b c d e f", "stream": True}
        with httpx.stream("POST", f"{url}/v1/completions", json=body) as response:
            frames = [line for line in response.iter_lines() if line.startswith("data: ")]
        assert '"TIMEOUT"' in frames[-2] and frames[-1] == "data: [DONE]"
        time.sleep(0.1)
        assert backend.cancelled == 2 and backend.running == 0


def test_error_mid_stream_is_an_error_frame():
    _, server = serve(EchoConfig(fail_after_tokens=2, overloaded_word="HUGE"))
    with server as url:
        _wait_ready(url)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        got = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "a b c d"}], stream=True
            ):
                got.append(chunk.choices[0].delta.content)
        assert "a " in got
        for stream in (False, True):  # failing before the first token: a real HTTP status, streamed or not
            with pytest.raises(openai.InternalServerError) as oom:
                client.completions.create(model="echo", prompt="a HUGE prompt", stream=stream)
            assert oom.value.status_code == 503 and oom.value.body["code"] == "MODEL_OVERLOADED"
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "healthy"


def test_client_disconnect_cancels_generation_in_the_backend():
    backend, server = serve(EchoConfig(token_delay_s=0.05))
    with server as url:
        _wait_ready(url)
        words = " ".join(f"w{i}" for i in range(400))
        with httpx.stream(
            "POST", f"{url}/v1/completions", json={"model": "echo", "prompt": words, "stream": True}
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    break
        with httpx.Client(timeout=1) as client, pytest.raises(httpx.ReadTimeout):
            client.post(f"{url}/v1/completions", json={"model": "echo", "prompt": words})
        deadline = time.monotonic() + 5
        while backend.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.running == 0 and backend.cancelled == 2 and backend.finished == 0
        metrics = httpx.get(f"{url}/metrics").text
        assert 'active_requests{model="echo"} 0.0' in metrics


def test_health_ready_metrics_and_request_ids():
    backend = EchoBackend()
    _, server = serve(EchoConfig(load_delay_s=1.0), backend)
    with server as url:
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503 and "loading" in ready.json()["reason"]
        assert httpx.get(f"{url}/health").json()["status"] == "unhealthy"
        early = httpx.post(f"{url}/v1/completions", json={"model": "echo", "prompt": "a"})
        assert early.status_code == 503 and early.headers["retry-after"]
        _wait_ready(url)
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "healthy" and health["uptime"] > 0 and health["model"] == "echo"
        r = httpx.post(
            f"{url}/v1/completions", json={"model": "echo", "prompt": "a b"}, headers={"X-Request-ID": "req-42"}
        )
        assert r.headers["x-request-id"] == "req-42" and r.json()["id"] == "cmpl-req-42"
        assert httpx.get(f"{url}/no/such/path").headers["x-request-id"]
        httpx.post(f"{url}/v1/completions", json={"model": "nope", "prompt": "a"})
        text = httpx.get(f"{url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"inference_requests", "inference_latency_seconds", "tokens_generated", "active_requests"} <= set(families)
    assert "inference_time_to_first_token_seconds" in families and "gpu_memory_used_bytes" in families
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("inference_requests_total", (("model", "echo"), ("status", "200")))] == 1
    assert samples[("inference_requests_total", (("model", "-"), ("status", "404")))] == 1
    assert samples[("inference_requests_total", (("model", "-"), ("status", "503")))] == 1
    assert samples[("tokens_generated_total", (("model", "echo"),))] == 2


def test_stalled_engine_is_not_ready():
    backend = EchoBackend()
    _, server = serve(EchoConfig(token_delay_s=2.0, limits=LimitsConfig(stall_timeout_s=0.3)), backend)
    with server as url:
        _wait_ready(url)

        async def slow_and_probe():
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                task = asyncio.create_task(client.post("/v1/completions", json={"model": "echo", "prompt": "a"}))
                await asyncio.sleep(0.8)
                ready = await client.get("/ready")
                health = await client.get("/health")
                await task
                return ready, health

        ready, health = asyncio.run(slow_and_probe())
        assert ready.status_code == 503 and "progress" in ready.json()["reason"]
        assert health.json()["status"] == "degraded"
        assert httpx.get(f"{url}/ready").status_code == 200


def test_admin_hot_swaps_adapters_and_models_behind_the_key():
    config = EchoConfig(api_keys=[KEY], admin_keys=[ADMIN], adapters={"sql": "/adapters/sql"}, model_root="/")
    _, server = serve(config)
    with server as url:
        _wait_ready(url)
        auth = {"Authorization": f"Bearer {KEY}"}
        admin = {"Authorization": f"Bearer {ADMIN}"}
        cards = httpx.get(f"{url}/v1/models", headers=auth).json()["data"]
        assert [(c["id"], c["type"]) for c in cards] == [("echo", "base"), ("sql", "lora")]
        load = {"path": "/adapters/poetry", "name": "poetry"}
        assert httpx.post(f"{url}/admin/adapters/load", json=load).status_code == 401
        forbidden = httpx.post(f"{url}/admin/adapters/load", json=load, headers=auth)
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "FORBIDDEN"
        assert httpx.post(f"{url}/admin/adapters/load", json=load, headers=admin).status_code == 200
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY)
        assert "poetry" in [m.id for m in client.models.list()]
        answer = client.completions.create(model="poetry", prompt="roses red")
        assert answer.choices[0].text == "[poetry] roses red "
        assert httpx.post(f"{url}/admin/adapters/unload", json={"name": "sql"}, headers=admin).status_code == 200
        with pytest.raises(openai.NotFoundError):
            client.completions.create(model="sql", prompt="x")
        swapped = httpx.post(f"{url}/admin/models/load", json={"path": "/models/other", "name": "other"}, headers=admin)
        assert swapped.status_code == 200 and swapped.json()["models"][0]["id"] == "other"
        assert client.completions.create(model="other", prompt="z").choices[0].text == "z "


def test_cors_headers_when_configured():
    _, server = serve(EchoConfig(cors_origins=["https://app.example"]))
    with server as url:
        _wait_ready(url)
        pre = httpx.options(
            f"{url}/v1/chat/completions",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.get(f"{url}/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_exposure_and_key_rules():
    check_exposure("127.0.0.1", [], False)
    check_exposure("0.0.0.0", [KEY], False)
    check_exposure("0.0.0.0", [], True)
    with pytest.raises(ConfigError, match="without an API key"):
        check_exposure("0.0.0.0", [], False)
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(EchoBackend(), EchoConfig(api_keys=["short"]))


def test_stop_strings_hold_back_partial_matches():
    stops = StopStrings(["END", "\n\n"])
    out = [stops.feed(t) for t in ["Hel", "lo E", "N", "D more"]]
    assert out == [("Hel", False), ("lo ", False), ("", False), ("", True)]
    stops = StopStrings(["END"])
    assert stops.feed("no E") == ("no ", False) and stops.flush() == "E"


def test_quantization_method_is_read_from_the_config(tmp_path):
    (tmp_path / "config.json").write_text('{"quantization_config": {"quant_method": "awq", "bits": 4}}')
    assert quantization_method(tmp_path) == "awq"
    assert quantization_method(tmp_path / "missing") is None


def test_lf_clients_retry_stream_and_raise_lf_errors():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{port.getsockname()[1]}"
    port.close()
    with InferenceClient(dead, max_retries=2, backoff=0.01) as client:
        t0 = time.monotonic()
        with pytest.raises(Exception, match="Cannot reach"):
            client.models()
        assert time.monotonic() - t0 >= 0.01
    _, server = serve(EchoConfig(api_keys=[KEY]))
    with server as url:
        _wait_ready(url)
        with InferenceClient(url, api_key=KEY) as client:
            client.wait_ready(timeout=10)
            assert client.health()["status"] == "healthy"
            assert client.chat("hello you", system="be brief")["text"] == "hello you "
            assert client.generate("x y z", max_tokens=2)["finish_reason"] == "length"
            assert "".join(client.stream_chat("s t u")) == "s t u "
            with pytest.raises(ModelNotFoundError):
                client.chat("a", model="nope")
        with InferenceClient(url, api_key="z" * 40) as bad, pytest.raises(AuthenticationError):
            bad.models()

        async def run_async():
            async with AsyncInferenceClient(url, api_key=KEY) as client:
                pieces = [p async for p in client.stream_generate("a b c")]
                answer = await client.chat("q r")
                return "".join(pieces), answer["text"]

        assert asyncio.run(run_async()) == ("a b c ", "q r ")
    limited = EchoConfig(limits=LimitsConfig(rate_limit_per_minute=60, rate_limit_burst=1))
    _, server = serve(limited)
    with server as url:
        _wait_ready(url)
        with InferenceClient(url, max_retries=0) as client:
            client.generate("a", model="echo")
            with pytest.raises(RateLimitedError):
                client.generate("a", model="echo")


def test_user_keys_are_not_admin_keys_by_default():
    """Hardening #2: with keys on and no admin_keys, a user key gets 403 on every admin route."""
    _, server = serve(EchoConfig(api_keys=[KEY]))
    with server as url:
        _wait_ready(url)
        auth = {"Authorization": f"Bearer {KEY}"}
        for path, body in [
            ("/admin/models/load", {"path": "/etc", "name": "x"}),
            ("/admin/models/unload", {"name": "echo"}),
            ("/admin/adapters/load", {"path": "/tmp", "name": "x"}),
            ("/admin/adapters/unload", {"name": "x"}),
        ]:
            refused = httpx.post(f"{url}{path}", json=body, headers=auth)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "FORBIDDEN"
        assert httpx.get(f"{url}/v1/models", headers=auth).json()["data"][0]["id"] == "echo"  # still served
    _, opted_in = serve(EchoConfig(api_keys=[KEY], user_keys_are_admin=True, model_root="/"))
    with opted_in as url:
        _wait_ready(url)
        load = {"path": "/adapters/poetry", "name": "poetry"}
        assert httpx.post(f"{url}/admin/adapters/load", json=load, headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("top_k", 9223372036854775808), ("top_k", 1 << 21), ("seed", 1 << 63), ("seed", -(1 << 63) - 1)],
)
def test_out_of_range_sampling_values_are_refused_at_the_edge(field, value):
    """Hardening #1: top_k = 2**63 used to kill the engine; now it is a 400 naming the field."""
    _, server = serve()
    with server as url:
        _wait_ready(url)
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], field: value}
        refused = httpx.post(f"{url}/v1/chat/completions", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == field
        ok = httpx.post(f"{url}/v1/chat/completions", json={**body, field: 5})
        assert ok.status_code == 200
