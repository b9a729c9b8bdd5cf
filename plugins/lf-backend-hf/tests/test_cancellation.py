"""A client that goes away frees its engine row at once, and no request or command is left waiting forever."""

from __future__ import annotations

import asyncio

import pytest

from lf.errors import ModelNotFoundError, ModelOverloadedError
from lf.serve.schemas import GenerationRequest
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig


@pytest.fixture
def backend(tiny_model_dir):
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny"))
    yield backend
    asyncio.run(backend.close())


def long_request(model: str = "tiny") -> GenerationRequest:
    return GenerationRequest(request_id="t", model=model, prompt="Once upon a time", max_tokens=900, ignore_eos=True)


async def until(condition) -> None:
    """Wait for ``condition()`` (the hang guard is pytest-timeout)."""
    while not condition():
        await asyncio.sleep(0.01)


@pytest.mark.timeout(60)
def test_a_cancelled_generate_and_a_closed_stream_free_their_rows(backend):
    engine = backend.current.engine

    async def run() -> None:
        task = asyncio.ensure_future(backend.generate(long_request()))
        await until(lambda: len(engine.batch) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await until(lambda: backend.status().pending == 0)

        stream = backend.stream(long_request())
        async for _ in stream:
            break
        assert len(engine.batch) == 1
        await stream.aclose()  # type: ignore[attr-defined]
        await until(lambda: backend.status().pending == 0)

        queued = [asyncio.ensure_future(backend.generate(long_request())) for _ in range(3)]
        await asyncio.sleep(0)  # submitted, not yet taken
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        await until(lambda: backend.status().pending == 0)

    asyncio.run(run())
    assert engine.batch.seqs == [] and backend.status().error is None


@pytest.mark.timeout(60)
def test_unloading_an_adapter_fails_its_running_requests(backend, tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=4)).save_pretrained(adapter)
    asyncio.run(backend.load_adapter("lora", str(adapter)))

    async def run() -> tuple[BaseException | None, int]:
        running = asyncio.ensure_future(backend.generate(long_request("lora")))
        base = asyncio.ensure_future(backend.generate(long_request()))
        await until(lambda: len(backend.current.engine.batch) == 2)
        await backend.unload_adapter("lora")
        error = None
        try:
            await running
        except ModelNotFoundError as exc:
            error = exc
        return error, (await base).completion_tokens

    error, base_tokens = asyncio.run(run())
    assert error is not None and "unloaded" in error.message  # it used to wait forever
    assert base_tokens == 900  # the base model's request went on


@pytest.mark.timeout(60)
def test_stopping_the_engine_answers_every_waiting_request_and_command(backend):
    engine = backend.current.engine

    async def run() -> tuple[BaseException | None, BaseException | None]:
        running = asyncio.ensure_future(backend.generate(long_request()))
        await until(lambda: len(engine.batch) == 1)
        command = engine.call(lambda: None, when_idle=True)  # waits for the batch to drain
        await asyncio.to_thread(engine.stop)
        outcome = (await asyncio.gather(running, return_exceptions=True))[0]
        return outcome, command.exception(timeout=30)

    request_error, command_error = asyncio.run(run())
    assert isinstance(request_error, ModelOverloadedError)
    assert isinstance(command_error, ModelOverloadedError)  # the hot swap waiting on it is not left hanging
    with pytest.raises(ModelOverloadedError):
        asyncio.run(backend.generate(long_request()))  # a stopped engine refuses at once
