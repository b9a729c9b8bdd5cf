"""What an attacker or an unlucky operator sends: every reproduction is a 4xx and the server keeps answering.

Real server (uvicorn on 127.0.0.1) with the model-free echo backend; the hf engine's own
hardening is tested in lf-backend-hf, the router's in lf-router-hybrid.
"""

from __future__ import annotations

import datetime
import io
import logging
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from lf.logs import JsonFormatter
from lf.serve.app import create_app
from lf.serve.config import LimitsConfig
from lf.testing import running_server, wait_ready
from lf.testing.echo_backend import EchoBackend, EchoConfig

KEY = "k" * 40
ADMIN = "a" * 40
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi there"}]}


def serve(config: EchoConfig | None = None, backend: EchoBackend | None = None, **tls: str):
    backend = backend or EchoBackend()
    return running_server(create_app(backend, config or EchoConfig(), backend_name="echo"), **tls)


def still_answers(url: str, **kwargs) -> None:
    """The server answers a normal request after whatever came before."""
    answer = httpx.post(f"{url}/v1/chat/completions", json=CHAT, **kwargs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "hi there "


@pytest.fixture
def security_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("lf")
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_bodies_that_cannot_be_read_are_400_not_500():
    """Invalid UTF-8 and 100k-deep nesting used to be 500s (and replica failures on the router)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    bodies = [
        b'{"model":"echo","messages":[{"role":"user","content":"h\xff\xfe"}]}',
        b'{"model":"echo","messages":[{"role":"user","content":"hi"}],"extra":' + deep + b"}",
        b'{"model":"echo","messages":' + deep + b"}",
        b'{"model":"echo","messages":[{"role":"user","content":"hi"}],"stop":' + deep + b"}",
        b"not json at all",
        b"",
    ]
    with serve() as url:
        wait_ready(url, timeout=30)
        for body in bodies:
            answer = httpx.post(
                f"{url}/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 400, (body[:60], answer.text)
            assert answer.json()["error"]["code"] == "INVALID_REQUEST"
        still_answers(url)


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/v1/chat/completions", "tools", [{"type": "function", "function": {"name": "f"}}]),
        ("/v1/chat/completions", "response_format", {"type": "json_object"}),
        ("/v1/chat/completions", "logprobs", True),
        ("/v1/chat/completions", "logit_bias", {"50256": -100}),
        ("/v1/completions", "best_of", 2),
        ("/v1/completions", "suffix", "!"),
    ],
)
def test_unsupported_openai_parameters_are_refused_by_name(path, field, value):
    body = dict(CHAT) if "chat" in path else {"model": "echo", "prompt": "hi"}
    with serve() as url:
        wait_ready(url, timeout=30)
        answer = httpx.post(f"{url}{path}", json={**body, field: value})
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["param"] == field and f"Unsupported parameter '{field}'" in error["message"]
        still_answers(url)


def test_prompt_size_is_capped_and_the_cap_is_configurable():
    config = EchoConfig(limits=LimitsConfig(max_prompt_chars=1000))
    with serve(config) as url:
        wait_ready(url, timeout=30)
        big = {"model": "echo", "messages": [{"role": "user", "content": "word " * 300}]}
        refused = httpx.post(f"{url}/v1/chat/completions", json=big)
        assert refused.status_code == 400 and "at most 1000" in refused.json()["error"]["message"]
        still_answers(url)


def test_admin_loads_stay_under_model_root_and_reveal_nothing(tmp_path: Path):
    root = tmp_path / "models"
    (root / "good").mkdir(parents=True)
    config = EchoConfig(api_keys=[KEY], admin_keys=[ADMIN], model_root=str(root))
    with serve(config) as url:
        wait_ready(url, timeout=30)
        admin = {"X-API-Key": ADMIN}
        for outside in ("/etc", "../../etc", str(tmp_path)):
            refused = httpx.post(f"{url}/admin/models/load", json={"path": outside, "name": "x"}, headers=admin)
            assert refused.status_code == 403 and "outside model_root" in refused.json()["error"]["message"]
        loaded = httpx.post(f"{url}/admin/adapters/load", json={"path": "good", "name": "good"}, headers=admin)
        assert loaded.status_code == 200 and "good" in [m["id"] for m in loaded.json()["models"]]
    with serve(EchoConfig(api_keys=[KEY], admin_keys=[ADMIN])) as url:  # "echo" is no directory: no root at all
        wait_ready(url, timeout=30)
        refused = httpx.post(f"{url}/admin/models/load", json={"path": "/tmp", "name": "x"}, headers=admin)
        assert refused.status_code == 403 and "model_root" in refused.json()["error"]["hint"]
        still_answers(url, headers={"X-API-Key": KEY})


def test_health_is_liveness_and_ready_is_readiness():
    """/health answers 200 while loading and after an unload (a liveness probe must not restart the pod)."""
    backend = EchoBackend()
    with serve(EchoConfig(load_delay_s=1.0, model_root="/"), backend) as url:
        loading = httpx.get(f"{url}/health")
        assert loading.status_code == 200 and loading.json()["status"] == "unhealthy"
        assert httpx.get(f"{url}/ready").status_code == 503
        wait_ready(url, timeout=30)
        assert httpx.post(f"{url}/admin/models/unload", json={"name": "echo"}).status_code == 200
        unloaded = httpx.get(f"{url}/health")
        assert unloaded.status_code == 200 and "no model is loaded" in unloaded.json()["reasons"]
        assert httpx.get(f"{url}/ready").status_code == 503


def test_a_dead_engine_makes_the_process_not_live():
    class DeadEngine(EchoBackend):
        def status(self):
            from lf.serve.schemas import BackendStatus

            return BackendStatus(loaded=True, error="engine thread died")

    with serve(backend=DeadEngine()) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and "engine thread died" in health.json()["reasons"][0]
        assert httpx.get(f"{url}/ready").status_code == 503


def test_metrics_can_require_a_key_and_failed_auth_is_a_security_event(security_log):
    with serve(EchoConfig(api_keys=[KEY], metrics_need_key=True)) as url:
        wait_ready(url, timeout=30)
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"X-API-Key": KEY}).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200  # probes stay open
        httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer wrong-key-x"})
    log = security_log.getvalue()
    assert '"logger": "lf.security"' in log and "authentication failed" in log
    assert "wrong-key-x" not in log and KEY not in log


def test_openapi_document_describes_the_request_bodies():
    with serve() as url:
        wait_ready(url, timeout=30)
        doc = httpx.get(f"{url}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ChatCompletionRequest")
    fields = doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    assert {"messages", "max_tokens", "top_k", "seed"} <= set(fields)
    assert {"/health", "/ready", "/metrics", "/admin/models/load"} <= set(doc["paths"])


def test_a_client_that_leaves_is_logged_as_499_not_as_an_error(security_log):
    with serve(EchoConfig(token_delay_s=0.05)) as url:
        wait_ready(url, timeout=30)
        words = " ".join(f"w{i}" for i in range(200))
        with httpx.Client(timeout=0.5) as client, pytest.raises(httpx.ReadTimeout):
            client.post(f"{url}/v1/completions", json={"model": "echo", "prompt": words})
        still_answers(url)
    log = security_log.getvalue()
    assert '"status": 499' in log
    assert '"level": "ERROR"' not in log


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_tls_with_a_certificate_made_in_the_test(tmp_path: Path):
    from lf.errors import ConfigError
    from lf.serve.runner import check_service_options

    cert, key = _self_signed(tmp_path)
    config = EchoConfig(ssl_certfile=str(cert), ssl_keyfile=str(key))
    with serve(config, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://")
        host, port = url.removeprefix("https://").split(":")
        assert httpx.get(f"{url}/ready", verify=ssl.create_default_context(cafile=str(cert))).status_code == 200
        still_answers(url, verify=ssl.create_default_context(cafile=str(cert)))
        with socket.create_connection((host, int(port))) as plain:  # plain HTTP gets no answer
            plain.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not plain.recv(1024).startswith(b"HTTP/1.1 200")
    with pytest.raises(ConfigError, match="needs both"):
        check_service_options(EchoConfig(ssl_certfile=str(cert), port=0))
    with pytest.raises(ConfigError, match="not a readable file"):
        check_service_options(EchoConfig(ssl_certfile=str(tmp_path / "no.pem"), ssl_keyfile=str(key), port=0))
