"""The model server fuzzed from its own OpenAPI document with the real hf engine: no 5xx, still answering.

A bounded, seeded schemathesis run (``lf.testing.fuzz``): valid and invalid requests for
every operation, generated from the request Structs ``/openapi.json`` describes, with the
model's name fixed so that valid ones reach the engine (sampling values included).
"""

from __future__ import annotations

import httpx

from lf.serve.app import create_app
from lf.testing import running_server, wait_ready
from lf.testing.fuzz import fuzz_openapi
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig

KEY = "f" * 40
ADMIN = "g" * 40
#: Hot swap would unload the model under the fuzzer; its safety is tested on its own (test_admin.py).
ADMIN_OPERATIONS = [f"POST /admin/{what}/{verb}" for what in ("models", "adapters") for verb in ("load", "unload")]


def test_the_model_server_survives_its_own_openapi(tiny_model_dir):
    config = HFConfig(
        model=str(tiny_model_dir), served_model_name="tiny", max_model_len=64, api_keys=[KEY], admin_keys=[ADMIN]
    )
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url, timeout=120)
        report = fuzz_openapi(
            url, examples=50, headers={"X-API-Key": KEY}, fixed={"model": "tiny"}, skip=ADMIN_OPERATIONS
        )
        assert report.server_errors == [], report.describe()
        assert report.cases >= 200 and report.by_status.get(200, 0) >= 20, report.describe()  # it reached the engine
        body = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
        answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"X-API-Key": KEY}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert httpx.get(f"{url}/ready").status_code == 200
