"""Two router processes sharing their state in a real Redis (``redis_server`` fixture: a free 127.0.0.1 port).

As behind a load balancer: an expert added through router A (``POST /experts``, admin key)
is routed to by router B, which learns it from Redis's change notification alone (its
polling is set to an hour); a rate limit of N/min holds across both; Redis going away
leaves both serving with the registry they had and reporting degraded on ``/health``;
Redis back (same data) and both are healthy again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lf.experts import ExpertManager
from lf.testing import free_port
from lf.testing.cli import lf_executable

USER, RATED = "router-user-key-" + "u" * 32, "router-rated-key-" + "r" * 32
#: one key per router for the requests that wait for Redis to come back (each key has LIMIT/min)
RECOVER = {"a": "router-recover-a-" + "x" * 32, "b": "router-recover-b-" + "y" * 32}
ADMIN = "router-admin-key-" + "a" * 32
LIMIT = 5  # requests per minute per key, across both routers


def start_router(helpers: Any, tmp_path: Path, name: str, redis_url: str, poll_s: float) -> Any:
    port = free_port()
    config = tmp_path / f"router-{name}.yaml"
    config.write_text(
        f"registry: {redis_url}\nport: {port}\nlog_level: warning\nregistry_poll_s: {poll_s}\n"
        f"api_keys: [{USER}, {RATED}, {RECOVER['a']}, {RECOVER['b']}]\nadmin_keys: [{ADMIN}]\n"
        "health_checks: {interval_s: 0.5}\n"
        f"limits: {{rate_limit_per_minute: {LIMIT}, rate_limit_store: '{redis_url}'}}\n"
    )
    args = [lf_executable(), "run", "route", "--plugin", "keyword", "--config", str(config)]
    proc = helpers.Process(args, port)
    helpers.wait_until(lambda: health(proc.url).get("status") == "healthy", timeout=120)
    return proc


def health(url: str) -> dict[str, Any]:
    try:
        return httpx.get(f"{url}/health", timeout=5).json()
    except httpx.TransportError:
        return {}


def ask(url: str, text: str, key: str = USER) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"X-API-Key": key}, timeout=30)


@pytest.mark.slow
def test_two_routers_share_experts_rate_limits_and_survive_redis_going_away(helpers, redis_server, tmp_path):
    with helpers.echo_thread("general-model") as (general_url, _), helpers.echo_thread("code-model") as (code_url, _):
        ExpertManager(redis_server.url).register_expert(helpers.expert("general", general_url))
        a = start_router(helpers, tmp_path, "a", redis_server.url, poll_s=1.0)
        b = start_router(helpers, tmp_path, "b", redis_server.url, poll_s=3600)  # learns changes only by push
        try:
            # a rate limit of LIMIT/min holds across both routers (one budget in Redis)
            statuses = [ask((a, b)[i % 2].url, "hello", key=RATED).status_code for i in range(2 * LIMIT)]
            assert statuses.count(200) == LIMIT and statuses.count(429) == LIMIT, statuses

            code = {"name": "code", "description": "Programming", "keywords": ["python"], "endpoint": code_url}
            added = httpx.post(f"{a.url}/experts", json=code, headers={"X-API-Key": ADMIN}, timeout=30)
            assert added.status_code == 201, added.text
            helpers.wait_until(lambda: health(b.url).get("experts") == 2, timeout=30)
            answer = ask(b.url, "a python question")
            assert answer.status_code == 200 and answer.json()["model"] == "code-model"
            assert answer.headers["x-lf-expert"] == "code"

            redis_server.kill()
            for router in (a, b):
                helpers.wait_until(lambda r=router: health(r.url).get("status") == "degraded", timeout=30)
                reasons = " ".join(health(router.url)["reasons"])
                assert "registry not reloaded (the last one read is in use)" in reasons
                assert "cannot be used" in reasons
                answer = ask(router.url, "a python question")  # still routed, with the registry it had
                assert answer.status_code == 200 and answer.json()["model"] == "code-model"
            assert "rate limits hold per replica only" in " ".join(health(b.url)["reasons"])

            redis_server.start()  # the same data (append-only file)
            for name, router in (("a", a), ("b", b)):  # the registry comes back by itself, the shared limits
                helpers.wait_until(  # with the next request
                    lambda r=router, k=RECOVER[name]: (
                        ask(r.url, "hi", key=k).status_code == 200 and health(r.url)["status"] == "healthy"
                    ),
                    timeout=30,
                    interval=1.0,
                )
            removed = httpx.delete(f"{b.url}/experts/code", headers={"X-API-Key": ADMIN}, timeout=30)
            assert removed.status_code == 200
            helpers.wait_until(lambda: health(a.url).get("experts") == 1, timeout=30)
        finally:
            a.stop()
            b.stop()
