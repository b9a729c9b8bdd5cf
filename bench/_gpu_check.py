"""The Python half of bench/gpu_check.sh (issue 16, item 4): each step writes one JSON file.

    python bench/_gpu_check.py env     --out DIR
    python bench/_gpu_check.py qlora   --out DIR --model MODEL_DIR [--steps 10]
    python bench/_gpu_check.py serve   --out DIR --name NAME -- SERVER COMMAND ...
    python bench/_gpu_check.py table   --out DIR
    python bench/_gpu_check.py prompts [--count 48]

The serving workload is the mixed one of issue 16: the `openai` async client streams chat
completions, a different prompt of 10-20 words per request, temperature 0, at most 64
output tokens with EOS allowed, 48 requests per concurrency level (1, 8, 32). Output
tokens/s are counted from the usage the server reports.

Only the standard library is imported at the top: `prompts`, `table` and the dry run of the
shell script work on a machine without torch, httpx or openai.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAME = "smollm2"
MAX_TOKENS = 64
LEVELS = (1, 8, 32)
REQUESTS = 48
SERVERS = ("vllm (anchor)", "lf+vllm", "lf+hf")

_SUBJECTS = [
    "a lighthouse keeper", "the water cycle", "a small bakery", "black holes", "a chess opening",
    "honey bees", "the printing press", "a mountain village", "compound interest", "volcanoes",
    "a jazz trio", "the Roman roads", "a city garden", "solar panels", "an old violin",
    "migrating whales", "the first computers", "a rainy harbour", "paper money", "desert plants",
]  # fmt: skip
_TASKS = [
    "Explain in simple words how {s} works",
    "Write a short poem about {s} at dawn",
    "Give three surprising facts about {s}",
    "Describe {s} to a curious ten year old child",
    "Tell a tiny story where {s} changes someone's mind",
    "List the main risks and benefits of {s} today",
]
_TAILS = ["please", "and keep it brief", "in a friendly tone", "with one concrete example", "for a school newsletter"]


def mixed_prompts(count: int = REQUESTS, seed: int = 16) -> list[str]:
    """``count`` different prompts of 10 to 20 words (deterministic)."""
    rng = random.Random(seed)
    pool = [t.format(s=s) for t in _TASKS for s in _SUBJECTS]
    rng.shuffle(pool)
    out: list[str] = []
    for base in pool:
        tails = rng.sample(_TAILS, k=rng.randint(0, 3))  # 0-3 tails: lengths spread over 10-20 words
        words = " ".join([base, *tails]).split()
        for tail in _TAILS:
            if len(words) >= 10:
                break
            words += tail.split()
        if 10 <= len(words) <= 20:
            out.append(" ".join(words) + ".")
        if len(out) == count:
            return out
    raise ValueError(f"only {len(out)} distinct prompts of 10-20 words available, {count} asked")


# --- step: env -------------------------------------------------------------------------------------


def step_env(out: Path) -> dict[str, Any]:
    """The GPU and the versions of what the other steps use."""
    import importlib.metadata as md

    info: dict[str, Any] = {"python": sys.version.split()[0]}
    for dist in ("torch", "transformers", "peft", "accelerate", "trl", "bitsandbytes", "vllm", "lf-core"):
        try:
            info[dist] = md.version(dist)
        except md.PackageNotFoundError:
            info[dist] = None
    import torch

    info["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 1e9, 1), gpus=torch.cuda.device_count())
    else:
        info["gpu"] = None
    return info


# --- step: qlora -----------------------------------------------------------------------------------


def step_qlora(out: Path, model: str, steps: int) -> dict[str, Any]:
    """A few QLoRA (bitsandbytes NF4) SFT steps through `lf train sft`, with peak GPU memory and the plan's."""
    import torch

    from lf.runner import run_component

    if not torch.cuda.is_available():
        raise SystemExit("qlora: no CUDA GPU here (bitsandbytes 4-bit needs one)")
    settings = {
        "model": model,
        "data": str(ROOT / "examples" / "data" / "code-expert.jsonl"),
        "output_dir": str(out / "qlora-run"),
        "overwrite": True,
        "method": "lora",
        "quantization": "4bit",
        "lora": {"r": 16, "alpha": 32, "target_modules": ["all-linear"]},  # as _planned() assumes
        "gradient_checkpointing": True,
        "max_steps": steps,
        "per_device_train_batch_size": 4,
        "max_length": 512,
        "logging_steps": 1,
        "save_steps": 0,
        "plot": False,
        "report_to": [],
    }
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    run_component("train", "sft", data=settings)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 1e9
    return {"steps": steps, "seconds": round(seconds, 1), "peak_gb": round(peak, 3), "planned_gb": _planned(model)}


def _planned(model: str) -> float | None:
    """What `lf plan training` puts per GPU for the same run (None without lf-planner)."""
    try:
        from lf_planner import memory
        from lf_planner.architecture import resolve
    except ImportError:
        return None
    arch = resolve(None, model)
    mem = memory.training_memory(
        arch, method="qlora", precision="BF16", base_precision="BF16", optimizer="AdamW", master_weights=True,
        micro_batch=4, seq_len=512, checkpointing=True, flash_attention=True, zero_stage=0, dp=1, lora_rank=16,
        targets=memory.lora_targets(["all-linear"]), lora_dropout=0.05, logits_bytes=10.0, chunked_loss=False,
    )  # fmt: skip
    return round(mem.total_gb, 3)


# --- step: serve -----------------------------------------------------------------------------------


async def _one(client: Any, prompt: str) -> tuple[int, float]:
    """One streamed chat completion: (output tokens, time to first token)."""
    t0 = time.perf_counter()
    stream = await client.chat.completions.create(
        model=NAME,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=MAX_TOKENS,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    first, tokens = None, 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.perf_counter() - t0
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return tokens, first if first is not None else float("nan")


async def _level(url: str, concurrency: int, prompts: list[str]) -> dict[str, float]:
    """Output tokens/s and TTFT p50 of ``prompts`` sent by ``concurrency`` workers."""
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=600)
    await _one(client, "Say hello in five words or fewer.")  # warm-up
    queue = list(prompts)
    results: list[tuple[int, float]] = []

    async def worker() -> None:
        while queue:
            results.append(await _one(client, queue.pop()))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    await client.close()
    return {"tok_s": sum(r[0] for r in results) / wall, "ttft_p50_ms": 1000 * statistics.median(r[1] for r in results)}


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before it was ready")
        try:
            ready = httpx.get(f"{url}/ready", timeout=2).status_code  # lf's readiness; vLLM's server has none
            if ready == 200 or (ready == 404 and httpx.get(f"{url}/health", timeout=2).status_code == 200):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s")


def step_serve(out: Path, name: str, command: list[str], port: int, requests: int) -> dict[str, Any]:
    """Start ``command`` (listening on ``port``), run the mixed workload at each level, stop it."""
    log = out / f"serve-{name.split()[0].replace('+', '_')}.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        _wait_ready(proc, url, timeout_s=150)
        levels = {}
        for c in LEVELS:
            levels[str(c)] = asyncio.run(_level(url, c, mixed_prompts(requests, seed=16 + c)))
            print(f"   {name} c={c}: {levels[str(c)]['tok_s']:.1f} tok/s", flush=True)
        return {"startup_s": round(time.perf_counter() - started, 1), "levels": levels, "log": str(log)}
    except (RuntimeError, OSError) as exc:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        raise SystemExit(f"{name}: {exc}; the end of {log}:\n" + "\n".join(tail)) from None
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- step: table -----------------------------------------------------------------------------------


def _cell(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def render_table(out: Path) -> str:
    """One table of every step's result (a step without a result file shows its status)."""
    status = _statuses(out)
    env = _read(out, "env")
    lines = [f"GPU check on {env.get('gpu') or 'no GPU'} ({_cell(env.get('gpu_memory_gb'))} GB); "
             f"torch {env.get('torch')}, transformers {env.get('transformers')}, vllm {env.get('vllm')}, "
             f"bitsandbytes {env.get('bitsandbytes')}"]  # fmt: skip
    q = _read(out, "qlora")
    peak, planned = _cell(q.get("peak_gb"), "{:.2f}"), _cell(q.get("planned_gb"), "{:.2f}")
    lines.append(
        f"QLoRA SFT (lf train sft, NF4, {q.get('steps', '-')} steps): peak {peak} GB, lf plan says {planned} GB, "
        f"{_cell(q.get('seconds'))} s [{status.get('qlora', '-')}]"
    )
    anchor = _read(out, "serve-vllm (anchor)").get("levels", {})
    header = f"{'server (mixed prompts)':<24}" + "".join(f"{'c=' + str(c) + ' tok/s':>14}{'ratio':>8}" for c in LEVELS)
    lines += ["", header, "-" * len(header)]
    for name in SERVERS:
        levels = _read(out, f"serve-{name}").get("levels", {})
        row = f"{name:<24}"
        for c in LEVELS:
            tok = levels.get(str(c), {}).get("tok_s")
            base = anchor.get(str(c), {}).get("tok_s")
            ratio = tok / base if tok and base else None
            row += f"{_cell(tok):>14}{_cell(ratio, '{:.2f}x'):>8}"
        lines.append(f"{row}  [{status.get(_step_of(name), '-')}]")
    return "\n".join(lines)


def _step_of(server: str) -> str:
    return {"vllm (anchor)": "vllm", "lf+vllm": "vllm", "lf+hf": "hf"}[server]


def _read(out: Path, stem: str) -> dict[str, Any]:
    path = out / f"{stem}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _statuses(out: Path) -> dict[str, str]:
    """``step -> status`` from status.tsv (written by gpu_check.sh)."""
    path = out / "status.tsv"
    if not path.is_file():
        return {}
    return dict(line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)


# --- command line ----------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("env", "qlora", "serve", "table", "prompts"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_check")
    parser.add_argument("--model", help="model directory (qlora)")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps (qlora)")
    parser.add_argument("--name", choices=SERVERS, help="which server (serve)")
    parser.add_argument("--port", type=int, default=8000, help="the server's port (serve)")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per level (serve)")
    parser.add_argument("--count", type=int, default=REQUESTS, help="prompts to print (prompts)")
    words = list(sys.argv[1:] if argv is None else argv)
    cut = words.index("--") if "--" in words else len(words)
    args = parser.parse_args(words[:cut])
    args.command = words[cut + 1 :]  # serve: the server command, after --
    if args.step == "serve" and not (args.name and args.command):
        parser.error("serve needs --name and the server command after --")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one step and write its JSON file (``table`` and ``prompts`` print)."""
    args = _arguments(argv)
    if args.step == "prompts":
        print("\n".join(mixed_prompts(args.count)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "table":
        print(render_table(args.out))
        return 0
    if args.step == "env":
        result, stem = step_env(args.out), "env"
    elif args.step == "qlora":
        result, stem = step_qlora(args.out, args.model, args.steps), "qlora"
    else:
        result, stem = step_serve(args.out, args.name, args.command, args.port, args.requests), f"serve-{args.name}"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
