"""Eight bursts of 1,000 concurrent requests through the router leave both real hf replicas ready.

The engine's request queue once raced under this load ("deque mutated during iteration")
and the engine thread died for good; now every burst is answered and both replicas stay ready.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from lf.testing import free_port
from lf.testing.cli import lf_executable

BURSTS = 8
CONCURRENT = 1000


def hf_server(helpers: Any, model_dir: str, name: str) -> Any:
    port = free_port()
    args = [lf_executable(), "run", "serve", "--plugin", "hf", "--set", f"model={model_dir}"]
    args += ["--set", f"served_model_name={name}", "--set", f"port={port}", "--set", "log_level=warning"]
    args += ["--set", "limits.max_queued_requests=4096"]
    return helpers.Process(args, port)


async def burst(url: str, rng: random.Random) -> list[int]:
    """1,000 requests at once: prompts of different lengths, greedy and sampled, 1-3 tokens."""
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one(i: int) -> int:
            body = {
                "model": "general",
                "prompt": " ".join(f"w{rng.randrange(100)}" for _ in range(rng.randrange(1, 40))),
                "max_tokens": rng.randrange(1, 4),
                "temperature": rng.choice([0.0, 0.7, 1.0]),
                "seed": rng.randrange(-(1 << 63), 1 << 63),
                "top_k": rng.choice([-1, 5, 1 << 20]),
            }
            return (await client.post("/v1/completions", json=body)).status_code

        return list(await asyncio.gather(*(one(i) for i in range(CONCURRENT))))


@pytest.mark.slow
def test_eight_bursts_of_a_thousand_leave_both_replicas_ready(helpers, tiny_model_dir):
    servers = [hf_server(helpers, str(tiny_model_dir), "general-model") for _ in range(2)]
    try:
        for server in servers:
            helpers.wait_until(lambda s=server: httpx.get(f"{s.url}/ready").status_code == 200, timeout=180)
        experts = [helpers.expert("general", *(s.url for s in servers))]
        # generous timeouts: the machine running the suite is shared; the point is that engines survive
        options = {"health_checks": {"interval_s": 1.0, "timeout_s": 10.0}, "upstream": {"connect_timeout_s": 10.0}}
        with helpers.router_thread(experts, **options) as (url, _router):
            rng = random.Random(0)
            for number in range(BURSTS):
                statuses = asyncio.run(burst(url, rng))
                failures = [line for line in httpx.get(f"{url}/metrics").text.splitlines() if "failures_total{" in line]
                assert statuses == [200] * CONCURRENT, (number, sorted(set(statuses)), failures)
                for server in servers:
                    assert httpx.get(f"{server.url}/ready").status_code == 200, number
                    assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        for server in servers:
            server.stop()
