"""The router fuzzed from its own OpenAPI document: no 5xx, experts unchanged, still answering afterwards.

A bounded, seeded schemathesis run (``lf.testing.fuzz``): valid and invalid requests for
every operation, generated from the request Structs ``/openapi.json`` describes, with a
user key (so ``POST /experts`` must refuse them all).
"""

from __future__ import annotations

import httpx

from lf.testing.fuzz import fuzz_openapi

KEY = "f" * 40
ADMIN = "g" * 40


def test_the_router_survives_its_own_openapi(helpers, tmp_path):
    with helpers.echo_thread("general-model") as (general, _), helpers.echo_thread("code-model") as (code, _):
        experts = [helpers.expert("general", general), helpers.expert("code", code, keywords=("python",))]
        options = {"api_keys": [KEY], "admin_keys": [ADMIN]}
        with helpers.router_thread(experts, registry=tmp_path / "experts.yaml", **options) as (url, router):
            report = fuzz_openapi(url, examples=30, headers={"X-API-Key": KEY}, fixed={"model": "auto"})
            assert report.server_errors == [], report.describe()
            assert report.cases >= 200 and report.by_status.get(200, 0) >= 20, report.describe()
            assert [e.name for e in router.manager.list_experts()] == ["general", "code"]  # a user key changes nothing
            body = {"model": "auto", "messages": [{"role": "user", "content": "a python bug"}], "max_tokens": 4}
            answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"X-API-Key": KEY})
            assert answer.status_code == 200 and answer.headers["x-lf-expert"] == "code"
