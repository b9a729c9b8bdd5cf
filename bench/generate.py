"""Synthetic data generation: `lf generate data` against a bare client loop, same server, same load.

The anchor is the least a generator can do: the official `openai` async client sending the
same chat requests with the same concurrency and keeping the answers in memory. The
generator adds what makes it safe to run for hours - retries, quality filters, MinHash
de-duplication, and each record and journal line appended and fsync'd as it is produced.
The ratio (generator records/s / anchor answers/s) is that price.

Two servers on 127.0.0.1: the test kit's `echo` backend (no model: the overhead shows
fully) and the `hf` backend with the tiny random chat model (a real engine, batching).

    python bench/generate.py [--prompts 400] [--concurrency 16] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import table

from lf.testing import wait_ready


async def anchor(url: str, model: str, prompts: list[str], concurrency: int, max_tokens: int) -> float:
    """Answers per second of a bare asyncio + openai loop."""
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    todo = iter(prompts)
    answers: list[str] = []

    async def worker() -> None:
        for prompt in todo:
            response = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0.8,
            )
            answers.append(response.choices[0].message.content or "")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    await client.close()
    assert len(answers) == len(prompts)
    return len(answers) / seconds


def generator(url: str, model: str, prompts: list[str], concurrency: int, max_tokens: int, out: Path) -> float:
    """Records (or finished prompts) per second of `lf generate data`, in-process, with every safeguard on."""
    from lf.components import NullEvents
    from lf.runner import resolve
    from lf_generate.generators import SyntheticGenerator

    _, config = resolve(
        "generate",
        "synthetic",
        data={
            "output": str(out),
            "overwrite": True,
            "teacher": {"base_url": url, "model": model},
            "prompts": prompts,
            "concurrency": concurrency,
            "max_tokens": max_tokens,
            "temperature": 0.8,
            "min_length": 1,
        },
    )
    started = time.perf_counter()
    result = SyntheticGenerator().run(config, NullEvents())
    seconds = time.perf_counter() - started
    finished = result.metrics["prompts"] - result.metrics["failed"]
    return finished / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()

    from lf.serve.app import create_app
    from lf.testing import running_server, tiny_model
    from lf.testing.echo_backend import EchoBackend, EchoConfig
    from lf_backend_hf.backend import HFBackend
    from lf_backend_hf.config import HFConfig

    prompts = [
        f"Write a short note number {i} about the sea, the wind and the boats in the harbour."
        for i in range(args.prompts)
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = tiny_model(Path(tmp) / "tiny")
        servers = {
            "echo (no model)": (create_app(EchoBackend(), EchoConfig(), backend_name="echo"), "echo"),
            "hf, tiny model": (
                create_app(HFBackend(), HFConfig(model=str(tiny), served_model_name="tiny"), backend_name="hf"),
                "tiny",
            ),
        }
        for name, (app, model) in servers.items():
            with running_server(app) as url:
                wait_ready(url)
                asyncio.run(anchor(url, model, prompts[:32], args.concurrency, args.max_tokens))  # warm-up
                base = asyncio.run(anchor(url, model, prompts, args.concurrency, args.max_tokens))
                ours = generator(url, model, prompts, args.concurrency, args.max_tokens, Path(tmp) / "out.jsonl")
                rows.append((name, f"{base:.1f}", f"{ours:.1f}", f"{ours / base:.2f}x"))
    print(
        f"{args.prompts} prompts, concurrency {args.concurrency}, max_tokens {args.max_tokens} "
        "(shared 2-core machine: figures are noisy)"
    )
    print(table(rows, ["server", "anchor answers/s", "lf generate records/s", "ratio"]))


if __name__ == "__main__":
    main()
