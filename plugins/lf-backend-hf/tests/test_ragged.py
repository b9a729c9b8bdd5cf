"""Ragged steps (running rows and new prompts in one forward) give transformers' logits and tokens.

The mixed traffic of a real server - prompts of different lengths, requests that end at
different steps, requests that arrive while others decode - through the engine on both
paths, compared with ``model.generate`` one prompt at a time.
"""

from __future__ import annotations

import asyncio

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lf.serve.schemas import GenerationRequest
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig
from lf_backend_hf.ragged import RaggedModel, StepPlan, ineligible, ragged_model
from lf_backend_hf.slots import SlotCache

PROMPTS = [
    "Paris is",
    "Write a Python function that sorts a list",
    "Once upon a time there was a small model",
    "The quick brown fox",
    "What is two plus two? Two plus two is",
    "Translate hello into French:",
]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def _expected_logits(model, sequence: list[int]) -> torch.Tensor:
    return model(input_ids=torch.tensor([sequence])).logits[0, -1]


def test_rows_that_join_and_leave_get_transformers_logits(model):
    ragged = RaggedModel(model)
    cache = ragged.new_cache()
    generator = torch.Generator().manual_seed(0)
    sequences: list[list[int]] = []
    with torch.inference_mode():
        for step in range(12):
            joining = [torch.randint(3, 500, (n,), generator=generator).tolist() for n in ((7, 2), (4,), ())[step % 3]]
            plan = StepPlan(list(cache.lens), [len(p) for p in joining], ragged.device)
            cache.reserve(plan.rows, plan.longest)
            nxt = [s[-1] for s in sequences]
            logits = ragged.forward(torch.tensor([*nxt, *(t for p in joining for t in p)]), plan, cache)
            cache.lens = [n + 1 for n in cache.lens] + [len(p) for p in joining]
            sequences = [*sequences, *joining]
            for row, sequence in enumerate(sequences):
                torch.testing.assert_close(logits[row], _expected_logits(model, sequence), rtol=1e-4, atol=1e-5)
            sequences = [[*s, int(t)] for s, t in zip(sequences, logits.argmax(-1).tolist(), strict=True)]
            if step % 4 == 3:  # the first and a middle row finish: the last rows move into their slots
                keep = [i for i in range(len(sequences)) if i not in (0, len(sequences) // 2)]
                order = cache.remove(keep)
                sequences = [sequences[i] for i in order]
                assert sorted(order) == keep


def test_the_slot_cache_keeps_rows_when_it_grows_moves_and_shrinks():
    cache = SlotCache(layers=2, kv_heads=1, head_dim=2, dtype=torch.float32, device=torch.device("cpu"))
    cache.reserve(3, 4)
    for row in range(3):
        where = (torch.full((row + 1,), row), torch.arange(row + 1))
        for layer in range(2):
            cache.write(layer, where, torch.full((row + 1, 1, 2), float(10 * row + layer)), torch.zeros(row + 1, 1, 2))
    cache.lens = [1, 2, 3]
    cache.reserve(20, 300)  # grows: what the rows hold is kept
    assert cache.capacity[0] >= 20 and cache.capacity[1] >= 300
    assert cache.remove([1, 2]) == [2, 1]  # row 2 moves into row 0's slot
    assert cache.lens == [3, 2]
    keys, _ = cache.layer(1)
    assert keys[0, 0, :3, 0].tolist() == [21.0] * 3 and keys[1, 0, :2, 0].tolist() == [11.0] * 2
    assert cache.capacity[0] < 20 and cache.capacity[1] < 300  # far larger than needed: shrunk
    assert cache.remove([]) == [] and cache.buffer is None


def test_only_supported_models_on_the_cpu_take_ragged_steps(model):
    assert ineligible(model, torch.device("cpu"), "sdpa") is None
    assert ineligible(model, torch.device("cpu"), "eager") == "attention eager"
    assert ineligible(model, torch.device("cuda"), "sdpa") == "device cuda"
    assert isinstance(ragged_model(model, torch.device("cpu"), "sdpa"), RaggedModel)


async def _staggered(backend: HFBackend, model_name: str) -> list[str]:
    """Every prompt with its own max_tokens; the second half arrives while the first decodes."""
    engine = backend.current.engine

    async def one(i: int) -> str:
        if i >= len(PROMPTS) // 2:
            start = engine.steps
            while engine.steps < start + 2 + i:  # join a batch that is decoding
                await asyncio.sleep(0.001)
        request = GenerationRequest(
            request_id=str(i), model=model_name, prompt=PROMPTS[i], max_tokens=4 + 3 * i, temperature=0, ignore_eos=True
        )
        return (await backend.generate(request)).text

    return list(await asyncio.gather(*(one(i) for i in range(len(PROMPTS)))))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("ragged", [True, False])
def test_mixed_traffic_gives_the_tokens_of_generate(tiny_model_dir, model, ragged):
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny", ragged=ragged))
    try:
        assert (backend.current.engine._ragged is not None) is ragged
        answers = asyncio.run(_staggered(backend, "tiny"))
    finally:
        asyncio.run(backend.close())
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for i, prompt in enumerate(PROMPTS):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        out = model.generate(ids, max_new_tokens=4 + 3 * i, do_sample=False, eos_token_id=None, pad_token_id=0)
        assert answers[i] == tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True), (i, prompt)


@pytest.mark.timeout(120)
def test_an_adapter_loaded_mid_batch_leaves_the_running_rows_right_and_switches_paths(tiny_model_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(3)
    lora = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora).save_pretrained(adapter)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny"))
    engine = backend.current.engine

    def request(model: str, max_tokens: int) -> GenerationRequest:
        return GenerationRequest(
            request_id=model, model=model, prompt=PROMPTS[1], max_tokens=max_tokens, temperature=0, ignore_eos=True
        )

    async def run() -> tuple[str, str, str]:
        running = asyncio.ensure_future(backend.generate(request("tiny", 40)))
        while engine.steps < 3:
            await asyncio.sleep(0.001)
        assert engine.path is engine._ragged and len(engine.batch) == 1
        await backend.load_adapter("lora", str(adapter))  # between two steps of the running row
        later = await asyncio.gather(backend.generate(request("lora", 8)), backend.generate(request("tiny", 8)))
        assert engine.path is engine._padded  # adapters are served by the padded path
        return (await running).text, later[0].text, later[1].text

    try:
        base_long, with_adapter, base_short = asyncio.run(run())
        asyncio.run(backend.unload_adapter("lora"))
        asyncio.run(backend.generate(request("tiny", 2)))
        assert engine.path is engine._ragged  # and the ragged path again once none is loaded
    finally:
        asyncio.run(backend.close())
    ids = tokenizer(PROMPTS[1], return_tensors="pt").input_ids

    def greedy(model, n: int) -> str:
        out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
        return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert base_long == greedy(base, 40) and base_short == greedy(base, 8)
    assert with_adapter == greedy(PeftModel.from_pretrained(base, str(adapter)), 8) != base_short
