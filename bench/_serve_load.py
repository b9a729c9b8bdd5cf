"""The client side of bench/serve.py: its two workloads, one level of load, and the c=1 bound.

``fixed``: one prompt, exactly 64 output tokens (``ignore_eos``), temperature 0.7, every
request alike (the workload the first serving goals were set on). ``mixed``: looks like real
traffic - a different prompt of 10-20 words per request (so prompts differ in length),
EOS allowed (requests end at different steps), every other request greedy (temperature 0)
and the others sampled (temperature 0.7, top_p 0.9, a seed per request, so each server
repeats its own run). ``greedy``: ``mixed`` with every request greedy (the measurement of
issue 16). All stream chat completions through the official ``openai`` client.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from typing import Any

import openai

NAME = "smollm2"
OUTPUT_TOKENS = 64
PROMPT = "Write a short story about a robot who learns to paint. Describe the colours it discovers."
WORKLOADS = ("fixed", "mixed", "greedy")
DEFAULT_WORKLOADS = ("fixed", "mixed")

_SUBJECTS = [
    "a clumsy robot",
    "an old lighthouse keeper",
    "the moon at night",
    "a small family bakery",
    "a quiet river",
    "the first computer",
    "a lost orange cat",
    "a young chess champion",
    "the ocean tides",
    "a mountain village",
    "an antique violin",
    "a busy train station",
]
_TASKS = [
    "Write a short poem of four lines about {s}, with a hopeful ending.",
    "Explain in simple words how {s} works, as if I were a ten year old child.",
    "Tell me three surprising facts about {s} that most people do not know.",
    "Describe {s} in exactly one sentence, using only simple everyday words.",
    "Write the opening line of a novel about {s} and a mysterious letter that arrives one morning.",
    "Suggest a good name for {s} and explain briefly why you chose it.",
    "What would {s} say if it could talk to us for one minute today?",
    "List two advantages and two disadvantages of living next to {s}.",
]


def mixed_prompts(count: int, seed: int = 0) -> list[str]:
    """``count`` prompts of 10-20 words, drawn from 96 distinct ones (the same list on every run)."""
    rng = random.Random(seed)
    pairs = [(t, s) for t in _TASKS for s in _SUBJECTS]
    rng.shuffle(pairs)
    return [task.format(s=subject) for task, subject in itertools.islice(itertools.cycle(pairs), count)]


def request_args(workload: str, index: int, prompts: list[str]) -> dict[str, Any]:
    """The ``chat.completions.create`` arguments of request ``index`` of ``workload``."""
    if workload == "fixed":
        return {
            "messages": [{"role": "user", "content": PROMPT}],
            "temperature": 0.7,
            "extra_body": {"ignore_eos": True},
        }
    args: dict[str, Any] = {"messages": [{"role": "user", "content": prompts[index % len(prompts)]}]}
    if index % 2 and workload == "mixed":
        args.update(temperature=0.7, top_p=0.9, seed=index)
    else:
        args.update(temperature=0.0)
    return args


async def one(client: openai.AsyncOpenAI, args: dict[str, Any]) -> tuple[int, float, list[float]]:
    """One streamed request: ``(completion tokens, time to first token, gaps between chunks)``."""
    t0 = time.perf_counter()
    stream = await client.chat.completions.create(
        model=NAME, max_tokens=OUTPUT_TOKENS, stream=True, stream_options={"include_usage": True}, **args
    )
    first = None
    stamps: list[float] = []
    tokens = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            stamps.append(now)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return tokens, (first or time.perf_counter()) - t0, gaps


async def level(url: str, workload: str, concurrency: int, requests: int) -> dict[str, float]:
    """``requests`` requests of ``workload``, ``concurrency`` at a time: tokens/s and latencies."""
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=600)
    prompts = mixed_prompts(max(requests, 1))
    todo = list(range(requests))
    results: list[tuple[int, float, list[float]]] = []

    async def worker() -> None:
        while todo:
            results.append(await one(client, request_args(workload, todo.pop(0), prompts)))

    await one(client, request_args(workload, requests, prompts))  # warm-up (not a measured prompt)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    await client.close()
    ttfts = sorted(r[1] for r in results)
    gaps = sorted(g for r in results for g in r[2])
    tokens = sum(r[0] for r in results)
    return {
        "tok_s": tokens / wall,
        "ttft_p50": statistics.median(ttfts),
        "ttft_p99": ttfts[min(len(ttfts) - 1, round(0.99 * (len(ttfts) - 1)))],
        "itl_p50": statistics.median(gaps) if gaps else float("nan"),
        "tokens": tokens,
        "wall": wall,
    }


def bandwidth_bound(model_dir: str) -> dict[str, float]:
    """The c=1 limit: tokens/s if each token cost exactly one read of the weights from memory.

    Weight bytes: the model's parameters (a tied embedding once). Bandwidth: the best of a
    few full reads (``sum``) and copies of a float32 tensor as large as the weights, on one
    thread (what lf + hf decodes with here; timed by its CPU time, so the shared machine's
    other jobs do not count) and on every core (wall time).
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the report

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    big = torch.ones(weight_bytes // 4)
    out = torch.empty_like(big)
    threads = torch.get_num_threads()
    result = {"weight_bytes": float(weight_bytes)}
    for label, n in (("1 thread", 1), ("all cores", threads)):
        torch.set_num_threads(n)
        # one thread: its CPU time (a shared machine's other jobs don't count); all cores: wall time
        clock = time.thread_time if n == 1 else time.perf_counter
        read = min(_timed(big.sum, clock) for _ in range(7))
        copy = min(_timed(lambda: out.copy_(big), clock) for _ in range(7))
        result[f"read GB/s, {label}"] = weight_bytes / read / 1e9
        result[f"copy GB/s, {label}"] = 2 * weight_bytes / copy / 1e9
        result[f"bound tok/s, {label}"] = 1 / read
    torch.set_num_threads(threads)
    return result


def _timed(fn: Any, clock: Any) -> float:
    t0 = clock()
    fn()
    return float(clock() - t0)
