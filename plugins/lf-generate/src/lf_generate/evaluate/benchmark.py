"""``lf evaluate benchmark``: perplexity of a model, latency and throughput of an endpoint.

Latency is measured the way serving benchmarks do (vLLM's ``benchmark_serving``): the
official ``openai`` async client streams chat completions; ``concurrency`` workers keep
that many requests in flight until ``requests`` have finished. Per request: time to
first token (TTFT), the gaps between streamed pieces (inter-token latency, ITL), time per
output token after the first (TPOT) and end-to-end latency; overall: output tokens/s and
requests/s over the wall time. Token counts come from the stream's usage chunk.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from lf.components import Events, NullEvents
from lf.errors import ConfigError, RunError
from lf_evaluate import PerplexityResult
from lf_generate.models import api_base, describe_error

DEFAULT_PROMPTS = [
    "Write a short story about a robot who learns to paint. Describe the colours it discovers.",
    "Explain how tides work to a ten-year-old.",
    "List five practical tips for writing clear technical documentation, with one sentence each.",
    "What are the trade-offs between renting and buying a home? Answer in a short paragraph.",
]


class Percentiles(msgspec.Struct, kw_only=True):
    """Summary of a set of durations, in milliseconds."""

    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    count: int


class LatencyResult(msgspec.Struct, kw_only=True):
    """One concurrency level against an endpoint."""

    concurrency: int
    requests: int
    completed: int
    failed: int
    wall_s: float
    output_tokens: int
    prompt_tokens: int
    output_tokens_per_s: float
    requests_per_s: float
    ttft_ms: Percentiles
    itl_ms: Percentiles
    tpot_ms: Percentiles
    e2e_ms: Percentiles
    errors: list[str] = []


class BenchmarkResult(msgspec.Struct, kw_only=True):
    """What ``lf evaluate benchmark`` measured."""

    perplexity: PerplexityResult | None = None
    endpoint: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    latency: list[LatencyResult] = []


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def summarize(seconds: Sequence[float]) -> Percentiles:
    """Percentiles of durations given in seconds, reported in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return Percentiles(mean=math.nan, p50=math.nan, p90=math.nan, p95=math.nan, p99=math.nan, max=math.nan, count=0)
    return Percentiles(
        mean=sum(values) / len(values),
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=values[-1],
        count=len(values),
    )


class _Sample(msgspec.Struct):
    ttft: float
    e2e: float
    gaps: list[float]
    output_tokens: int
    prompt_tokens: int


async def _one(client: Any, model: str, prompt: str, max_tokens: int, temperature: float, ignore_eos: bool) -> _Sample:
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=temperature,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True} if ignore_eos else None,
    )
    stamps: list[float] = []
    output_tokens = prompt_tokens = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.usage:
            output_tokens = chunk.usage.completion_tokens
            prompt_tokens = chunk.usage.prompt_tokens
    ended = time.perf_counter()
    if not stamps:
        raise RunError("the stream carried no text")
    return _Sample(
        ttft=stamps[0] - started,
        e2e=ended - started,
        gaps=[b - a for a, b in itertools.pairwise(stamps)],
        output_tokens=output_tokens or len(stamps),
        prompt_tokens=prompt_tokens,
    )


async def measure_endpoint(
    base_url: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    concurrency: int = 1,
    requests: int = 16,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    max_tokens: int = 64,
    temperature: float = 0.7,
    ignore_eos: bool = False,
    warmup: int = 1,
    timeout_s: float = 600.0,
    events: Events | None = None,
) -> tuple[str, LatencyResult]:
    """``(model, result)`` of ``requests`` streamed requests, ``concurrency`` in flight at once."""
    import openai

    if concurrency < 1 or requests < 1:
        raise ConfigError("concurrency and requests must be at least 1.")
    client = openai.AsyncOpenAI(
        base_url=api_base(base_url), api_key=api_key or "none", max_retries=0, timeout=timeout_s
    )
    shape = _RequestShape(prompts, max_tokens, temperature, ignore_eos)
    try:
        model = model if model is not None else await _served_model(client, base_url)
        await _warm_up(client, base_url, model, shape, warmup)
        run = await _run_requests(client, model, shape, concurrency, requests, events or NullEvents())
    finally:
        await client.close()
    if not run.samples:
        raise RunError(f"Every request to {base_url} failed; first error: {run.errors[0] if run.errors else '?'}")
    return model, _latency_result(run, concurrency, requests)


@dataclass
class _RequestShape:
    """What every benchmark request asks for (prompts taken in turn)."""

    prompts: Sequence[str]
    max_tokens: int
    temperature: float
    ignore_eos: bool

    async def send(self, client: Any, model: str, i: int) -> _Sample:
        """Stream the ``i``-th request and time it."""
        prompt = self.prompts[i % len(self.prompts)]
        return await _one(client, model, prompt, self.max_tokens, self.temperature, self.ignore_eos)


@dataclass
class _Run:
    """The timed requests of one concurrency level."""

    samples: list[_Sample]
    errors: list[str]
    wall: float


async def _served_model(client: Any, base_url: str) -> str:
    """The endpoint's first listed model."""
    import openai

    try:
        return (await client.models.list()).data[0].id
    except openai.APIConnectionError as exc:
        raise RunError(f"Cannot reach {base_url}: {exc}", hint="Is the server running?") from None
    except (openai.APIStatusError, IndexError) as exc:
        raise ConfigError(f"{base_url} lists no model ({exc}); pass --served-model.") from None


async def _warm_up(client: Any, base_url: str, model: str, shape: _RequestShape, warmup: int) -> None:
    """Send ``warmup`` untimed requests; any failure ends the benchmark."""
    import openai

    for i in range(warmup):
        try:
            await shape.send(client, model, i)
        except openai.APIConnectionError as exc:
            raise RunError(f"Cannot reach {base_url}: {exc}", hint="Is the server running?") from None
        except openai.APIStatusError as exc:
            raise RunError(f"{base_url} refused the warm-up request: {describe_error(exc)}") from None


async def _run_requests(
    client: Any, model: str, shape: _RequestShape, concurrency: int, requests: int, events: Events
) -> _Run:
    """``requests`` requests by ``concurrency`` workers; a failed request is counted, not raised."""
    samples: list[_Sample] = []
    errors: list[str] = []
    todo = iter(range(requests))
    label = f"concurrency {concurrency}"
    events.progress(label, 0, requests)

    async def worker() -> None:
        for i in todo:
            try:
                samples.append(await shape.send(client, model, i))
            except Exception as exc:  # one failed request is a data point, not the end of the benchmark
                errors.append(describe_error(exc))
            events.progress(label, len(samples) + len(errors), requests)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return _Run(samples, errors, time.perf_counter() - started)


def _latency_result(run: _Run, concurrency: int, requests: int) -> LatencyResult:
    """Throughput over the wall time and the latency percentiles of the completed requests."""
    samples, wall = run.samples, run.wall
    tokens = sum(s.output_tokens for s in samples)
    return LatencyResult(
        concurrency=concurrency,
        requests=requests,
        completed=len(samples),
        failed=len(run.errors),
        wall_s=round(wall, 4),
        output_tokens=tokens,
        prompt_tokens=sum(s.prompt_tokens for s in samples),
        output_tokens_per_s=tokens / wall,
        requests_per_s=len(samples) / wall,
        ttft_ms=summarize([s.ttft for s in samples]),
        itl_ms=summarize([g for s in samples for g in s.gaps]),
        tpot_ms=summarize([(s.e2e - s.ttft) / (s.output_tokens - 1) for s in samples if s.output_tokens > 1]),
        e2e_ms=summarize([s.e2e for s in samples]),
        errors=sorted(set(run.errors))[:5],
    )


def run_benchmark(
    *,
    model: str | None = None,
    data: str | None = None,
    url: str | None = None,
    served_model: str | None = None,
    api_key_env: str | None = None,
    concurrency: Sequence[int] = (1,),
    requests: int = 16,
    prompts_file: str | None = None,
    max_tokens: int = 64,
    temperature: float = 0.7,
    ignore_eos: bool = False,
    warmup: int = 1,
    max_samples: int | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    events: Events | None = None,
) -> BenchmarkResult:
    """Perplexity of ``model`` on ``data`` and/or latency of the endpoint at ``url``, as asked."""
    if not model and not url:
        raise ConfigError(
            "Nothing to benchmark: give --model (perplexity of a model directory) and/or --url (an endpoint).",
            hint="lf evaluate benchmark --model out/model --data heldout.jsonl; "
            "lf evaluate benchmark --url http://127.0.0.1:8000 --concurrency 1,8",
        )
    api_key = _endpoint_api_key(url, api_key_env) if url else None
    prompts = _benchmark_prompts(prompts_file)
    texts = None
    if model:
        model, texts = _checked_model_and_texts(model, data, max_samples)
    result = BenchmarkResult(endpoint=url, max_tokens=max_tokens if url else None)
    if model and texts is not None:
        from lf_evaluate import perplexity

        result.perplexity = perplexity(
            model,
            texts,
            max_length=max_length,
            stride=stride,
            events=events,
            data_label=data or "(bundled held-out set)",
        )
    if url:
        _measure_levels(
            result,
            url,
            served_model,
            concurrency,
            api_key=api_key,
            requests=requests,
            prompts=prompts,
            max_tokens=max_tokens,
            temperature=temperature,
            ignore_eos=ignore_eos,
            warmup=warmup,
            events=events,
        )
    return result


def _checked_model_and_texts(model: str, data: str | None, max_samples: int | None) -> tuple[str, list[str]]:
    """The model directory (resolved and checked) and the held-out texts to score it on."""
    from lf.models import resolve_model
    from lf_evaluate import check_model_dir, load_texts

    model = resolve_model(model)
    check_model_dir(model)
    return model, load_texts(data, max_samples=max_samples)


def _measure_levels(
    result: BenchmarkResult, url: str, served_model: str | None, concurrency: Sequence[int], **options: Any
) -> None:
    """Measure the endpoint at each concurrency level in turn (the first run names the served model)."""
    for level in concurrency:
        name, latency = asyncio.run(measure_endpoint(url, model=served_model, concurrency=level, **options))
        result.model = served_model = name
        result.latency.append(latency)


def _endpoint_api_key(url: str, api_key_env: str | None) -> str | None:
    """The API key from the environment variable named ``api_key_env``; checks ``url`` is http(s)."""
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env names {api_key_env}, which is not set.")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url '{url}' is not an http(s) URL.")
    return api_key


def _benchmark_prompts(prompts_file: str | None) -> list[str]:
    """The prompts of ``prompts_file``, or the built-in ones."""
    if not prompts_file:
        return list(DEFAULT_PROMPTS)
    from lf_generate.prompts import read_prompt_file

    prompts = read_prompt_file(prompts_file)
    if not prompts:
        raise ConfigError(f"{prompts_file} holds no prompt.")
    return prompts
