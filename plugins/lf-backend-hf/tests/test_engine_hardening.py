"""The engine under attack: concurrent submit/cancel from many threads, bad rows, dead loops.

Everything runs a real tiny model through ``HFBackend.generate``/``stream``; pytest-timeout
is the hang guard (a broken engine shows up as a request that never ends).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading

import pytest

from lf.serve.schemas import GenerationRequest
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny"))
    yield backend
    asyncio.run(backend.close())


def request(prompt: str = "Once upon a time", **options) -> GenerationRequest:
    return GenerationRequest(request_id="t", model="tiny", prompt=prompt, **options)


async def wait_idle(backend: HFBackend) -> None:
    """Until the engine holds no request (the hang guard is pytest-timeout)."""
    while backend.status().pending:
        await asyncio.sleep(0.01)


@pytest.mark.timeout(180)
def test_submit_and_cancel_hammered_from_threads_and_tasks(backend):
    threads, per_thread, rounds = 16, 125, 2  # 2 x 2,000 requests: the old race broke ~5 runs in 6 per round
    outcomes: dict[str, int] = {"completed": 0, "cancelled": 0, "closed": 0}
    errors: list[BaseException] = []
    lock = threading.Lock()

    async def one(rng: random.Random, i: int) -> str:
        options = {"max_tokens": rng.randint(1, 3), "temperature": 0.0}
        kind = rng.choice(("generate", "cancel", "close"))
        if kind == "generate":
            done = await backend.generate(request(f"story {i}", **options))
            assert done.finish_reason in ("stop", "length") and done.completion_tokens <= options["max_tokens"]
            return "completed"
        if kind == "close":
            stream = backend.stream(request(f"story {i}", **options))
            async for _ in stream:
                break
            await stream.aclose()  # type: ignore[attr-defined]
            return "closed"
        task = asyncio.ensure_future(backend.generate(request(f"story {i}", **options)))
        for _ in range(rng.randint(0, 3)):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "completed"  # it finished before the cancel landed

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        results = await asyncio.gather(*(one(rng, i) for i in range(per_thread)), return_exceptions=True)
        with lock:
            for result in results:
                if isinstance(result, BaseException):
                    errors.append(result)
                else:
                    outcomes[result] += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the threads as often as possible
    try:
        for round_ in range(rounds):
            seeds = range(round_ * threads, (round_ + 1) * threads)
            pool = [threading.Thread(target=asyncio.run, args=(worker(seed),), daemon=True) for seed in seeds]
            for thread in pool:
                thread.start()
            for thread in pool:
                while thread.is_alive():  # a dead engine would leave every request waiting: say why at once
                    thread.join(0.5)
                    assert backend.status().error is None, backend.status().error
    finally:
        sys.setswitchinterval(switch)
    assert not errors, errors[:3]
    assert sum(outcomes.values()) == rounds * threads * per_thread and all(outcomes.values()), outcomes
    asyncio.run(wait_idle(backend))
    assert backend.status().error is None
    assert asyncio.run(backend.generate(request(max_tokens=2))).completion_tokens >= 1
