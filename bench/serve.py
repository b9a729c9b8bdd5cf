"""Serving throughput: lf + hf, lf + vllm and vLLM's own OpenAI server (the anchor), one run.

Same model (SmolLM2-135M-Instruct, float32, from `lf models fetch`), same machine, same
load: the `openai` async client streams chat completions with a fixed prompt and exactly
64 output tokens (`ignore_eos`), at concurrency 1, 8 and 32. Reported per server and
level: output tokens/s, time to first token p50/p99, inter-token latency p50, and the
ratio to the anchor at the same concurrency.

    python bench/serve.py [--levels 1,8,32] [--requests 8,16,64] [--only hf,vllm,anchor]

lf + vllm and the anchor run in .venv-vllm (plugins/lf-backend-vllm/scripts/make-env.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
VENV = ROOT / ".venv" / "bin"
VLLM_VENV = ROOT / ".venv-vllm" / "bin"
NAME = "smollm2"
OUTPUT_TOKENS = 64
PROMPT = "Write a short story about a robot who learns to paint. Describe the colours it discovers."


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(model: str, port: int) -> dict[str, list[str]]:
    common = ["--set", f"model={model}", "--set", f"port={port}", "--set", f"served_model_name={NAME}"]
    quiet = ["--set", "log_level=warning"]
    return {
        "lf+hf": [str(VENV / "lf"), "-q", "run", "serve", "--plugin", "hf", *common, *quiet],
        "lf+vllm": [str(VLLM_VENV / "lf"), "-q", "run", "serve", "--plugin", "vllm", *common, *quiet],
        "vllm (anchor)": [
            str(VLLM_VENV / "python"),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model,
            "--served-model-name",
            NAME,
            "--dtype",
            "float32",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--gpu-memory-utilization",
            "0.4",
            "--disable-log-stats",
            "--disable-uvicorn-access-log",
        ],
    }


def start(cmd: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); see {log}")
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200
            if ready and httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server did not start in 600 s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def one(client: openai.AsyncOpenAI) -> tuple[int, float, list[float]]:
    t0 = time.perf_counter()
    stream = await client.chat.completions.create(
        model=NAME,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=OUTPUT_TOKENS,
        temperature=0.7,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
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
    assert first is not None
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return tokens, first - t0, gaps


async def level(url: str, concurrency: int, requests: int) -> dict[str, float]:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=600)
    queue = list(range(requests))
    results: list[tuple[int, float, list[float]]] = []

    async def worker() -> None:
        while queue:
            queue.pop()
            results.append(await one(client))

    await one(client)  # warm-up
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    await client.close()
    ttfts = sorted(r[1] for r in results)
    gaps = sorted(g for r in results for g in r[2])
    return {
        "tok_s": sum(r[0] for r in results) / wall,
        "ttft_p50": statistics.median(ttfts),
        "ttft_p99": ttfts[min(len(ttfts) - 1, round(0.99 * (len(ttfts) - 1)))],
        "itl_p50": statistics.median(gaps) if gaps else float("nan"),
        "tokens": sum(r[0] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--requests", default="8,16,64")
    parser.add_argument("--only", default="hf,vllm,anchor", help="servers to run: hf, vllm, anchor")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    from lf.models import fetch_embedded

    model = str(fetch_embedded(quiet=True))
    aliases = {"hf": "lf+hf", "vllm": "lf+vllm", "anchor": "vllm (anchor)"}
    wanted = [aliases.get(w.strip(), w.strip()) for w in args.only.split(",")]
    unknown = set(wanted) - set(aliases.values())
    if unknown:
        parser.error(f"--only: unknown server(s) {', '.join(sorted(unknown))}; choose from hf, vllm, anchor")
    logs = ROOT / "bench" / "results"
    logs.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[int, dict[str, float]]] = {}
    print(f"model {model}; {OUTPUT_TOKENS} output tokens; machine: {os.cpu_count()} CPUs (shared, noisy)")
    for name in ["vllm (anchor)", "lf+vllm", "lf+hf"]:
        if name not in wanted:
            continue
        port = free_port()
        cmd = commands(model, port)[name]
        if not Path(cmd[0]).exists():
            print(f"{name}: skipped ({cmd[0]} missing; run plugins/lf-backend-vllm/scripts/make-env.sh)")
            continue
        proc = start(cmd, port, logs / f"serve-{name.split()[0].replace('+', '_')}.log")
        try:
            table[name] = {}
            for c, n in zip(levels, counts, strict=True):
                result = asyncio.run(level(f"http://127.0.0.1:{port}", c, n))
                table[name][c] = result
                print(
                    f"{name:<14} c={c:<3} {result['tok_s']:7.1f} tok/s  TTFT p50 {result['ttft_p50'] * 1000:7.0f} ms"
                    f"  p99 {result['ttft_p99'] * 1000:7.0f} ms  ITL p50 {result['itl_p50'] * 1000:6.1f} ms",
                    flush=True,
                )
        finally:
            stop(proc)
    anchor = table.get("vllm (anchor)", {})
    print("\nratio to the anchor (output tokens/s at the same concurrency):")
    for name in ("lf+vllm", "lf+hf"):
        if name in table and anchor:
            ratios = "  ".join(f"c={c}: {table[name][c]['tok_s'] / anchor[c]['tok_s']:.2f}x" for c in levels)
            print(f"  {name:<8} {ratios}")
    print("goals: lf+vllm >= 0.95x at every level; lf+hf >= 0.8x at c=32")


if __name__ == "__main__":
    main()
