"""Every value the API accepts works, through ``HFBackend.generate`` and a real tiny model.

The server's schema lets through ``top_k`` up to 2**64 - 1, any 64-bit ``seed``,
temperatures down to 0 and penalties of +-2; none of them may fail a request (and one
used to kill the engine).
"""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from lf.errors import InvalidRequestError
from lf.serve.app import create_app
from lf.serve.schemas import Completion, GenerationRequest
from lf.testing import running_server, wait_ready
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny"))
    yield backend
    asyncio.run(backend.close())


def generate(backend: HFBackend, **options) -> Completion:
    options = {"max_tokens": 6, "ignore_eos": True, "temperature": 1.0, **options}
    return asyncio.run(backend.generate(GenerationRequest(request_id="t", model="tiny", prompt="Paris is", **options)))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "options",
    [
        {"top_k": 2**63},
        {"top_k": 2**64 - 1},
        {"top_k": 1},
        {"seed": -(2**63)},
        {"seed": 2**64 - 1},
        {"seed": 2**64 + 5},
        {"temperature": 2.0, "top_p": 1e-9},
        {"temperature": 1e-30},
        {"presence_penalty": 2.0, "frequency_penalty": 2.0},
        {"presence_penalty": -2.0, "frequency_penalty": -2.0, "temperature": 0.0},
    ],
)
def test_values_at_and_past_their_limits_generate(backend, options):
    assert generate(backend, **options).completion_tokens == 6
    assert backend.status().error is None


@pytest.mark.timeout(60)
def test_out_of_range_values_mean_what_they_say(backend):
    unfiltered = generate(backend, seed=11, top_k=-1).text
    assert generate(backend, seed=11, top_k=2**63).text == unfiltered  # top_k past the vocabulary: no filter
    assert generate(backend, seed=11 + 2**64).text == unfiltered  # seeds are taken modulo 2**64
    assert generate(backend, seed=-1).text == generate(backend, seed=2**64 - 1).text
    greedy = generate(backend, temperature=0.0).text
    assert generate(backend, temperature=1e-30).text == greedy  # a vanishing temperature is greedy
    assert generate(backend, temperature=2.0, top_p=1e-9).text == greedy  # so is a vanishing top_p
    assert generate(backend, temperature=1.0, top_k=1).text == greedy


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["temperature", "top_p", "presence_penalty", "frequency_penalty"])
def test_non_finite_values_are_refused(backend, name):
    with pytest.raises(InvalidRequestError, match=name):
        generate(backend, **{name: math.nan})
    with pytest.raises(InvalidRequestError, match=name):
        generate(backend, **{name: math.inf})


@pytest.mark.timeout(120)
def test_the_request_that_killed_the_engine_is_answered_by_the_server(tiny_model_dir):
    config = HFConfig(model=str(tiny_model_dir), served_model_name="tiny")
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        # out of the API's range: a 400 naming the field at the edge (the engine clamps what it lets through)
        for extra in ({"top_k": 2**63}, {"top_k": 2**64 - 1}, {"seed": 2**64 - 1}):
            body = {"model": "tiny", "prompt": "fox", "max_tokens": 2, "temperature": 1.0, **extra}
            answer = httpx.post(f"{url}/v1/completions", json=body, timeout=60)
            assert answer.status_code == 400 and answer.json()["error"]["param"] in extra, (extra, answer.text)
        for extra in ({"top_k": 1 << 20}, {"seed": -(2**63)}, {"seed": 2**63 - 1}):  # the extremes it accepts
            body = {"model": "tiny", "prompt": "fox", "max_tokens": 2, "temperature": 1.0, **extra}
            answer = httpx.post(f"{url}/v1/completions", json=body, timeout=60)
            assert answer.status_code == 200, (extra, answer.text)
        assert httpx.get(f"{url}/ready").status_code == 200
