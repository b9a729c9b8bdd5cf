"""Prompts are encoded off the event loop when long, and refused fast when they cannot fit."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from lf.errors import InvalidRequestError
from lf.serve.app import create_app
from lf.serve.config import LimitsConfig
from lf.serve.schemas import GenerationRequest
from lf.testing import running_server, wait_ready
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig

HUGE = ("The quick brown fox jumps over the lazy dog. " * 90_000)[:3_900_000]  # under the 4 MiB body limit


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny"))  # a 1,024-token context
    yield backend
    asyncio.run(backend.close())


def generate(backend: HFBackend, **fields) -> None:
    asyncio.run(backend.generate(GenerationRequest(request_id="t", model="tiny", max_tokens=2, **fields)))


@pytest.mark.timeout(60)
def test_a_prompt_past_the_context_fails_with_its_token_counts(backend):
    with pytest.raises(InvalidRequestError, match=r"The prompt has 1,[0-9]{3} tokens; the model accepts 1,024") as exc:
        generate(backend, prompt="fox " * 1_100)
    assert exc.value.details == {"param": "prompt"}
    for fields in ({"prompt": HUGE}, {"messages": [{"role": "user", "content": HUGE}]}):
        # Refused from a probe of its first 16 x 1,024 characters: 3.9 MB are never tokenized.
        with pytest.raises(InvalidRequestError, match=r"first 16,384 characters alone are [0-9,]+ tokens") as exc:
            generate(backend, **fields)
        assert "1,024" in exc.value.message and "fox" not in exc.value.message
    generate(backend, prompt="fox " * 100)  # the engine never saw any of it


class WatchedBackend(HFBackend):
    """The real backend; notes the server's event loop, and when a huge prompt reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.huge_arrived = threading.Event()

    async def _prepare(self, request, queue):
        self.loop = asyncio.get_running_loop()
        if len(request.prompt or "") > 1_000_000:
            self.huge_arrived.set()
        return await super()._prepare(request, queue)


async def longest_stall(stop: threading.Event, gaps: list[float]) -> None:
    """Wake up every 5 ms until ``stop``; record how late each wake-up came."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last - 0.005)
        last = now


@pytest.mark.timeout(180)
def test_a_huge_prompt_does_not_stall_other_requests(tiny_model_dir):
    backend = WatchedBackend()
    # A context so long that the 3.9 MB prompt is tokenized in full (seconds), then refused; the
    # server's own prompt cap (limits.max_prompt_chars, 1M characters by default) raised to let it in.
    config = HFConfig(
        model=str(tiny_model_dir),
        served_model_name="tiny",
        max_model_len=1_000_000,
        limits=LimitsConfig(max_prompt_chars=8_000_000),
    )
    small = {"model": "tiny", "prompt": "Paris is", "max_tokens": 2}
    with running_server(create_app(backend, config, backend_name="hf")) as url:
        wait_ready(url)
        assert httpx.post(f"{url}/v1/completions", json=small, timeout=60).status_code == 200
        assert backend.loop is not None
        stop, gaps = threading.Event(), []
        sampler = asyncio.run_coroutine_threadsafe(longest_stall(stop, gaps), backend.loop)

        async def clients() -> tuple[bool, httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                huge = asyncio.create_task(client.post("/v1/completions", json={**small, "prompt": HUGE}))
                while not backend.huge_arrived.is_set() and not huge.done():
                    await asyncio.sleep(0.01)
                quick = asyncio.create_task(client.post("/v1/completions", json=small))
                done, _ = await asyncio.wait({huge, quick}, return_when=asyncio.FIRST_COMPLETED)
                return quick in done and huge not in done, await quick, await huge

        quick_first, quick, huge = asyncio.run(clients())
        stop.set()
        sampler.result(timeout=30)
    print(f"longest event-loop stall while a 3.9 MB prompt was processed: {max(gaps) * 1000:.0f} ms")
    assert quick_first  # answered while the huge prompt was still being tokenized
    assert quick.status_code == 200 and quick.json()["usage"]["completion_tokens"] == 2
    assert huge.status_code == 400 and "tokens; the model accepts 1,000,000" in huge.json()["error"]["message"]


def test_a_conversation_the_chat_template_refuses_is_a_400(tiny_model_dir, tmp_path):
    """A template's raise_exception (here: no system role, as Gemma's) used to be a 500 INTERNAL_ERROR."""
    import shutil

    from transformers import AutoTokenizer

    model = tmp_path / "no-system"
    shutil.copytree(tiny_model_dir, model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}assistant:"
    )
    tokenizer.save_pretrained(model)
    config = HFConfig(model=str(model), served_model_name="tiny")
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        user = {"role": "user", "content": "hi"}
        body = {"model": "tiny", "messages": [{"role": "system", "content": "Be brief."}, user], "max_tokens": 2}
        refused = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert "System role not supported" in error["message"] and error["param"] == "messages"
        assert "fold the system message" in error["hint"]
        answer = httpx.post(f"{url}/v1/chat/completions", json={**body, "messages": [user]}, timeout=60)
        assert answer.status_code == 200
