"""Serving throughput: lf + hf, lf + vllm and vLLM's own OpenAI server (the anchor), one run.

Same model (SmolLM2-135M-Instruct, float32, from `lf models fetch`), same machine, same
load, same client (the `openai` async client streaming chat completions, 64 output tokens at
most), at concurrency 1, 8 and 32, on the workloads of bench/_serve_load.py: ``fixed`` (one
prompt, exactly 64 tokens, `ignore_eos`) and ``mixed`` (a different prompt of 10-20 words
per request, EOS allowed, half greedy and half sampled); ``greedy`` (``mixed``, all greedy)
on demand. Reported per server, workload and level: output tokens/s, time to first token
p50/p99, inter-token latency p50, the server's CPU seconds per 1,000 output tokens (all its
processes; vLLM's include busy-polling), the load average, and the ratio to the anchor at
the same level. At c=1 it also prints the memory-bandwidth bound: one read of the weights
per token.

    python bench/serve.py [--levels 1,8,32] [--requests 48] [--workloads fixed,mixed]
                          [--only hf,vllm,anchor] [--no-bound]

lf + vllm and the anchor run in .venv-vllm (plugins/lf-backend-vllm/scripts/make-env.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
VENV = ROOT / ".venv" / "bin"
VLLM_VENV = ROOT / ".venv-vllm" / "bin"
from _serve_load import DEFAULT_WORKLOADS, NAME, OUTPUT_TOKENS, WORKLOADS, bandwidth_bound, level  # noqa: E402

SERVERS = {"anchor": "vllm (anchor)", "vllm": "lf+vllm", "hf": "lf+hf", "hf-padded": "lf+hf padded"}
"""``--only`` names -> servers; ``hf-padded`` is lf+hf with ``ragged=false`` (every model's path), to compare."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(model: str, port: int) -> dict[str, list[str]]:
    common = ["--set", f"model={model}", "--set", f"port={port}", "--set", f"served_model_name={NAME}"]
    quiet = ["--set", "log_level=warning"]
    hf = [str(VENV / "lf"), "-q", "run", "serve", "--plugin", "hf"]
    return {
        "lf+hf": [*hf, *common, *quiet],
        "lf+hf padded": [*hf, *common, *quiet, "--set", "ragged=false"],
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
            ready = ready and httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            # lf's /ready says when the model is loaded (vLLM's server has no /ready: 404)
            if ready and httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code in (200, 404):
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


def cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds of ``proc`` and its children so far (0 when psutil is missing)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in tree:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def measure(name: str, url: str, proc: subprocess.Popen[bytes], args: argparse.Namespace) -> dict[Any, Any]:
    """Every workload and level against one server; prints a line per level."""
    results: dict[tuple[str, int], dict[str, float]] = {}
    for workload in args.workloads:
        for c, n in zip(args.levels, args.requests, strict=True):
            cpu0 = cpu_seconds(proc)
            result = asyncio.run(level(url, workload, c, n))
            result["cpu_per_1k"] = (cpu_seconds(proc) - cpu0) / max(result["tokens"], 1) * 1000
            result["load"] = os.getloadavg()[0]
            results[workload, c] = result
            print(
                f"{name:<14} {workload:<5} c={c:<3} {result['tok_s']:7.1f} tok/s  "
                f"TTFT p50 {result['ttft_p50'] * 1000:6.0f} ms p99 {result['ttft_p99'] * 1000:6.0f} ms  "
                f"ITL p50 {result['itl_p50'] * 1000:5.1f} ms  {result['tokens']:5.0f} tokens  "
                f"CPU {result['cpu_per_1k']:5.1f} s/1k tok  load {result['load']:.1f}",
                flush=True,
            )
    return results


def report(table: dict[str, dict[Any, Any]], args: argparse.Namespace, bound: dict[str, float] | None) -> None:
    """The ratios to the anchor, per workload; the bandwidth bound beside c=1."""
    anchor = table.get("vllm (anchor)", {})
    for workload in args.workloads:
        print(f"\n{workload}: ratio to the anchor (output tokens/s at the same concurrency; CPU s per 1k tokens)")
        for name in ("lf+vllm", "lf+hf", "lf+hf padded"):
            if name in table and anchor:
                ours, theirs = table[name], anchor
                ratios = "  ".join(
                    f"c={c}: {ours[workload, c]['tok_s'] / theirs[workload, c]['tok_s']:.2f}x "
                    f"(CPU {ours[workload, c]['cpu_per_1k'] / max(theirs[workload, c]['cpu_per_1k'], 1e-9):.2f}x)"
                    for c in args.levels
                )
                print(f"  {name:<8} {ratios}")
    print("goals: lf+vllm >= 0.95x at every level; lf+hf >= 0.9x at c=8 and c=32 and >= 1.0x at c=1 (mixed)")
    if bound:
        gb = bound["weight_bytes"] / 1e9
        print(f"\nc=1 bound (one read of the {gb:.3f} GB of weights per token):")
        for label in ("1 thread", "all cores"):
            print(
                f"  {label:<9}: read {bound[f'read GB/s, {label}']:.1f} GB/s (copy {bound[f'copy GB/s, {label}']:.1f})"
                f" -> {bound[f'bound tok/s, {label}']:.1f} tok/s"
            )
        for name, results in table.items():
            c1 = [f"{w} {results[w, 1]['tok_s']:.1f}" for w in args.workloads if (w, 1) in results]
            if c1:
                print(f"  {name:<14} at c=1: {', '.join(c1)} tok/s")


def parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--requests", default="48", help="requests per level (one number, or one per level)")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS), help="fixed, mixed, greedy")
    parser.add_argument("--only", default="hf,vllm,anchor", help="servers to run: hf, vllm, anchor, hf-padded")
    parser.add_argument("--no-bound", action="store_true", help="skip the memory-bandwidth bound")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    args.requests = [int(x) for x in args.requests.split(",")]
    if len(args.requests) == 1:
        args.requests *= len(args.levels)
    args.workloads = [w.strip() for w in args.workloads.split(",")]
    if set(args.workloads) - set(WORKLOADS):
        parser.error(f"--workloads: choose from {', '.join(WORKLOADS)}")
    args.servers = [SERVERS.get(w.strip(), w.strip()) for w in args.only.split(",")]
    unknown = set(args.servers) - set(SERVERS.values())
    if unknown:
        parser.error(f"--only: unknown server(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}")
    if len(args.requests) != len(args.levels):
        parser.error("--requests: one number, or one per level")
    return args


def main() -> None:
    """Run the servers one after the other, each through every workload and level."""
    args = parse()
    from lf.models import fetch_embedded

    model = str(fetch_embedded(quiet=True))
    logs = ROOT / "bench" / "results"
    logs.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[Any, Any]] = {}
    print(f"model {model}; <= {OUTPUT_TOKENS} output tokens; machine: {os.cpu_count()} CPUs (shared, noisy)")
    for name in SERVERS.values():
        if name not in args.servers:
            continue
        port = free_port()
        cmd = commands(model, port)[name]
        if not Path(cmd[0]).exists():
            print(f"{name}: skipped ({cmd[0]} missing; run plugins/lf-backend-vllm/scripts/make-env.sh)")
            continue
        proc = start(cmd, port, logs / f"serve-{name.replace(' ', '-').replace('+', '_')}.log")
        try:
            table[name] = measure(name, f"http://127.0.0.1:{port}", proc, args)
        finally:
            stop(proc)
    bound = None if args.no_bound or 1 not in args.levels else bandwidth_bound(model)
    report(table, args, bound)


if __name__ == "__main__":
    main()
