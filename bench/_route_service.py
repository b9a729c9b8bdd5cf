"""The router service part of bench/route.py: added latency, and requests/s against LiteLLM.

Everything runs on 127.0.0.1 in separate processes: one fast upstream (bench/_upstream.py,
raw ASGI on uvicorn), our router (``lf serve router``, keyword classifier, one process) and,
when it can be installed, a LiteLLM proxy (``litellm[proxy]``, one worker) in front of the
same upstream. Requests name the expert (``model: general``), so classification is excluded.

* added latency: one request at a time, alternating straight-to-upstream and through-router
  (so that the machine's noise hits both alike); p50/p99 of each and the difference.
* requests/s: a closed loop of N concurrent clients for a fixed time, the same client and
  the same concurrency for the upstream alone, our router and LiteLLM.

LiteLLM lives in its own virtual environment, ``.venv-litellm`` at the repository root
(gitignored), created here on first use so it never touches the project's dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = ROOT / ".venv-litellm"
BODY = {"model": "general", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
#: Both proxies check this API key (LiteLLM refuses to start without a master key); the upstream ignores it.
KEY = "sk-bench-" + "k" * 32
HEADERS = {"Authorization": f"Bearer {KEY}"}


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


@contextlib.contextmanager
def process(argv: Sequence[str], port: int, env: dict[str, str] | None = None, log: Path | None = None,
            timeout: float = 120.0) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    """Start ``argv`` and wait until it accepts connections on ``port``; stop it on exit."""
    import socket

    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(list(argv), env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{Path(argv[0]).name} exited with status {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def wait_ok(url: str, timeout: float = 180.0) -> None:
    """Poll until a chat completion through ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers=HEADERS, timeout=30)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.TransportError as e:
            last = repr(e)
        time.sleep(0.5)
    raise RuntimeError(f"{url} never answered 200: {last}")


def added_latency(direct: str, router: str, n: int) -> tuple[list[float], list[float]]:
    """Seconds per request straight to ``direct`` and through ``router``, alternating."""
    times: dict[str, list[float]] = {direct: [], router: []}
    with httpx.Client(timeout=30, headers=HEADERS) as client:
        for url in (direct, router):
            for _ in range(50):
                client.post(f"{url}/v1/chat/completions", json=BODY).raise_for_status()
        for i in range(2 * n):
            url = direct if i % 2 == 0 else router
            start = time.perf_counter()
            r = client.post(f"{url}/v1/chat/completions", json=BODY)
            times[url].append(time.perf_counter() - start)
            r.raise_for_status()
    return times[direct], times[router]


async def _closed_loop(url: str, concurrency: int, seconds: float) -> tuple[int, int]:
    """(successes, failures) of ``concurrency`` clients posting back to back for ``seconds``."""
    from lf_router_hybrid.service.transport import pooled_client

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = pooled_client(limits, httpx.Timeout(60.0))
    client.headers.update(HEADERS)
    async with client:
        ok = failed = 0
        measuring = False
        stop = False

        async def worker() -> None:
            nonlocal ok, failed
            while not stop:
                try:
                    r = await client.post(f"{url}/v1/chat/completions", json=BODY)
                    good = r.status_code == 200
                except httpx.HTTPError:
                    good = False
                if measuring:
                    if good:
                        ok += 1
                    else:
                        failed += 1

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(1.0)  # warm-up: connections opened, caches filled
        measuring = True
        await asyncio.sleep(seconds)
        measuring = False
        stop = True
        await asyncio.gather(*tasks)
        return ok, failed


def throughput(url: str, concurrency: int, seconds: float) -> tuple[float, int]:
    """Requests/s and the number of failed requests."""
    ok, failed = asyncio.run(_closed_loop(url, concurrency, seconds))
    return ok / seconds, failed


def litellm_bin() -> tuple[Path | None, str]:
    """The ``litellm`` script of ``.venv-litellm``, installing it there first if needed; or (None, why)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe, ""
    print(f"installing litellm[proxy] into {LITELLM_VENV} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"could not create {LITELLM_VENV}: {e}"
    if pip.returncode != 0 or not exe.exists():
        tail = (pip.stderr or pip.stdout).strip().splitlines()[-3:]
        return None, "pip install litellm[proxy] failed: " + " | ".join(tail)
    return exe, ""


@contextlib.contextmanager
def litellm_proxy(exe: Path, upstream: str, port: int, workdir: Path) -> Iterator[str]:
    """A LiteLLM proxy (one worker) with ``general`` -> the upstream's OpenAI API."""
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: general\n"
        "    litellm_params:\n"
        "      model: openai/echo\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: unused\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  set_verbose: false\n"
    )
    env = {
        "LITELLM_MASTER_KEY": KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
    }
    argv = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    log = workdir / "litellm.log"
    try:
        with process(argv, port, env, log=log, timeout=240):
            url = f"http://127.0.0.1:{port}"
            wait_ok(url)
            yield url
    except (TimeoutError, RuntimeError) as e:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        raise RuntimeError(f"LiteLLM proxy did not start: {e}; " + " | ".join(tail)) from None


def bench_service(calls: int, concurrency: int, seconds: float, litellm: bool) -> list[tuple[str, ...]]:
    """Rows for the table: added latency and requests/s (router vs upstream vs LiteLLM)."""
    from lf.experts import ExpertConfig, ExpertManager, Replica
    from lf.testing import free_port

    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        up_port, router_port = free_port(), free_port()
        upstream = f"http://127.0.0.1:{up_port}"
        registry = work / "experts.yaml"
        ExpertManager(registry).register_expert(
            ExpertConfig(name="general", description="Anything", endpoints=[Replica(url=upstream)])
        )
        router_argv = [str(Path(sys.executable).with_name("lf")), "serve", "router", "--classifier", "keyword",
                       "--port", str(router_port), "--set", "log_level=warning"]  # fmt: skip
        with (
            process([sys.executable, str(ROOT / "bench" / "_upstream.py"), str(up_port)], up_port),
            process(router_argv, router_port, {"LF_EXPERTS_FILE": str(registry), "LF_KEYWORD_API_KEYS": KEY}),
        ):
            router = f"http://127.0.0.1:{router_port}"
            wait_ok(router)
            latency_rows, direct, routed = _latency_rows(upstream, router, calls)
            rows += latency_rows
            throughput_rows, ours_rps = _throughput_rows(upstream, router, concurrency, seconds)
            rows += throughput_rows
            if litellm:
                rows += _litellm_rows(upstream, work, calls, concurrency, seconds, direct, routed, ours_rps)
    return rows


def _latency_rows(
    upstream: str, router: str, calls: int
) -> tuple[list[tuple[str, ...]], tuple[float, float], tuple[float, float]]:
    """Sequential p50/p99 straight to the upstream and through the router; also both (p50, p99) pairs."""
    direct_s, routed_s = added_latency(upstream, router, calls)
    d50, d99 = percentiles(direct_s)
    r50, r99 = percentiles(routed_s)
    print(f"service: {calls} sequential requests each way (alternating), model=general (no classification)")
    ok50 = "ok" if (r50 - d50) * 1e3 < 1.0 else "over 1 ms"
    ok99 = "ok" if (r99 - d99) * 1e3 < 5.0 else "over 5 ms"
    rows: list[tuple[str, ...]] = [
        ("straight to the upstream", f"{d50 * 1e3:.2f} ms", f"{d99 * 1e3:.2f} ms", ""),
        ("through the router", f"{r50 * 1e3:.2f} ms", f"{r99 * 1e3:.2f} ms", ""),
        ("  added by the router", f"{(r50 - d50) * 1e3:.2f} ms", f"{(r99 - d99) * 1e3:.2f} ms",
         f"p50 {ok50}, p99 {ok99}"),
    ]  # fmt: skip
    return rows, (d50, d99), (r50, r99)


def _throughput_rows(
    upstream: str, router: str, concurrency: int, seconds: float
) -> tuple[list[tuple[str, ...]], float]:
    """Closed-loop requests/s of the upstream alone and through the router; also the router's."""
    up_rps, up_failed = throughput(upstream, concurrency, seconds)
    ours_rps, ours_failed = throughput(router, concurrency, seconds)
    print(f"service: closed loop, {concurrency} concurrent clients, {seconds:.0f} s each")
    rows: list[tuple[str, ...]] = [
        (f"upstream alone, {concurrency} concurrent", f"{up_rps:.0f} req/s", "", f"{up_failed} failed"),
        (f"our router, {concurrency} concurrent", f"{ours_rps:.0f} req/s", "",
         f"{ours_failed} failed; {ours_rps / up_rps:.2f}x of the upstream alone"),
    ]  # fmt: skip
    return rows, ours_rps


def _litellm_rows(
    upstream: str,
    work: Path,
    calls: int,
    concurrency: int,
    seconds: float,
    direct: tuple[float, float],
    routed: tuple[float, float],
    ours_rps: float,
) -> list[tuple[str, ...]]:
    """The same measurements through a LiteLLM proxy in front of the upstream (none when it cannot run)."""
    from lf.testing import free_port

    d50, d99 = direct
    r50 = routed[0]
    exe, why = litellm_bin()
    if exe is None:
        print(f"LiteLLM part skipped: {why}")
        return []
    try:
        with litellm_proxy(exe, upstream, free_port(), work) as lite:
            lite_rps, lite_failed = throughput(lite, concurrency, seconds)
            with httpx.Client(timeout=30, headers=HEADERS) as client:
                lite_s = []
                for _ in range(min(calls, 500)):
                    start = time.perf_counter()
                    client.post(f"{lite}/v1/chat/completions", json=BODY).raise_for_status()
                    lite_s.append(time.perf_counter() - start)
    except RuntimeError as e:
        print(f"LiteLLM part skipped: {e}")
        return []
    l50, l99 = percentiles(lite_s)
    verdict = "ok" if ours_rps >= 2 * lite_rps else "under 2x"
    return [
        (f"LiteLLM proxy, {concurrency} concurrent", f"{lite_rps:.0f} req/s", "", f"{lite_failed} failed"),
        ("  ratio ours / LiteLLM", f"{ours_rps / lite_rps:.2f}x", "", f"goal >= 2x: {verdict}"),
        ("through LiteLLM, sequential", f"{l50 * 1e3:.2f} ms", f"{l99 * 1e3:.2f} ms", ""),
        ("  added by LiteLLM (vs upstream above)", f"{(l50 - d50) * 1e3:.2f} ms", f"{(l99 - d99) * 1e3:.2f} ms",
         f"{(l50 - d50) / max(r50 - d50, 1e-6):.1f}x ours at p50"),
    ]  # fmt: skip
