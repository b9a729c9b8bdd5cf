"""``lf evaluate benchmark`` and ``lf evaluate compare`` (only typer, already loaded by ``lf``, is imported here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

GROUP_HELP = "Evaluate models: perplexity, benchmarks (latency, throughput) and side-by-side comparisons."


def add_commands(app: typer.Typer) -> None:
    """Add ``benchmark`` and ``compare`` to the shared ``lf evaluate`` group (created if missing)."""
    from lf.plugin_api import command_group

    evaluate = command_group(app, "evaluate", help=GROUP_HELP, panel="Plugins")
    evaluate.command("benchmark")(benchmark)
    evaluate.command("compare")(compare)


def _levels(text: str) -> list[int]:
    from lf.errors import ConfigError

    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--concurrency '{text}': give whole numbers, e.g. 1,8,32.") from None
    if not levels or min(levels) < 1:
        raise ConfigError(f"--concurrency '{text}': every level must be at least 1.")
    return levels


_BenchmarkModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model directory (or tiny, smollm2): measure its perplexity on --data."),
]
_BenchmarkDataOption = Annotated[
    str | None,
    typer.Option("--data", "-d", help="Held-out text for perplexity: a data file of any lf format or a text file."),
]
_BenchmarkUrlOption = Annotated[
    str | None, typer.Option("--url", "-u", help="Running OpenAI-compatible endpoint: measure latency and throughput.")
]
_BenchmarkServedModelOption = Annotated[
    str | None, typer.Option("--served-model", help="Model name at the endpoint (default: its first model).")
]
_BenchmarkApiKeyEnvOption = Annotated[
    str | None, typer.Option("--api-key-env", help="Environment variable holding the endpoint's API key.")
]
_BenchmarkConcurrencyOption = Annotated[
    str, typer.Option("--concurrency", "-c", help="Requests in flight; several levels: 1,8,32.")
]
_BenchmarkRequestsOption = Annotated[
    int, typer.Option("--requests", "-n", help="Requests measured at each concurrency level.")
]
_BenchmarkMaxTokensOption = Annotated[int, typer.Option("--max-tokens", help="Output tokens per request.")]
_BenchmarkTemperatureOption = Annotated[float, typer.Option("--temperature", help="Sampling temperature.")]
_BenchmarkPromptsOption = Annotated[
    str | None, typer.Option("--prompts", help="Prompts to send (one per line, or a data file).")
]
_BenchmarkIgnoreEosOption = Annotated[
    bool,
    typer.Option("--ignore-eos", help="Ask for exactly --max-tokens tokens (lf and vLLM servers; fixed-length runs)."),
]
_BenchmarkWarmupOption = Annotated[int, typer.Option("--warmup", help="Unmeasured requests sent first.")]
_BenchmarkMaxSamplesOption = Annotated[
    int | None, typer.Option("--max-samples", help="Perplexity: use at most this many texts.")
]
_BenchmarkMaxLengthOption = Annotated[int | None, typer.Option("--max-length", help="Perplexity: tokens per window.")]
_BenchmarkAsJsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
_BenchmarkOutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Also write the result as JSON to this file.")
]


def benchmark(
    model: _BenchmarkModelOption = None,
    data: _BenchmarkDataOption = None,
    url: _BenchmarkUrlOption = None,
    served_model: _BenchmarkServedModelOption = None,
    api_key_env: _BenchmarkApiKeyEnvOption = None,
    concurrency: _BenchmarkConcurrencyOption = "1",
    requests: _BenchmarkRequestsOption = 16,
    max_tokens: _BenchmarkMaxTokensOption = 64,
    temperature: _BenchmarkTemperatureOption = 0.7,
    prompts: _BenchmarkPromptsOption = None,
    ignore_eos: _BenchmarkIgnoreEosOption = False,
    warmup: _BenchmarkWarmupOption = 1,
    max_samples: _BenchmarkMaxSamplesOption = None,
    max_length: _BenchmarkMaxLengthOption = None,
    as_json: _BenchmarkAsJsonOption = False,
    output: _BenchmarkOutputOption = None,
) -> None:
    """Perplexity of a model on a dataset, and/or latency and throughput of a running endpoint.

    Latency: TTFT, inter-token latency (ITL), time per output token (TPOT) and end-to-end
    percentiles, output tokens/s, measured with the openai client streaming at each
    concurrency level.

    Examples:
      lf evaluate benchmark --model out/model --data heldout.jsonl
      lf evaluate benchmark --url http://127.0.0.1:8000 --concurrency 1,8,32 --requests 32 --ignore-eos
    """
    import msgspec

    from lf.atomic import atomic_write_bytes
    from lf.plugin_api import RichEvents, interruptible, print_json
    from lf_generate.evaluate.benchmark import run_benchmark

    with interruptible(), RichEvents() as events:
        result = run_benchmark(
            model=model,
            data=data,
            url=url,
            served_model=served_model,
            api_key_env=api_key_env,
            concurrency=_levels(concurrency),
            requests=requests,
            prompts_file=prompts,
            max_tokens=max_tokens,
            temperature=temperature,
            ignore_eos=ignore_eos,
            warmup=warmup,
            max_samples=max_samples,
            max_length=max_length,
            events=events,
        )
    if output is not None:
        atomic_write_bytes(output, msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n")
    if as_json:
        print_json(result)
        return
    _print_benchmark(result)


def _print_benchmark(result: object) -> None:
    from rich.table import Table

    from lf.plugin_api import console
    from lf_generate.evaluate.benchmark import BenchmarkResult

    assert isinstance(result, BenchmarkResult)
    out = console()
    if result.perplexity is not None:
        p = result.perplexity
        out.print(
            f"[bold]perplexity[/] {p.perplexity:.4f}   ({p.tokens:,} tokens, {p.texts} texts, {p.data}; "
            f"{p.seconds:.1f} s)"
        )
    if result.latency:
        table = Table(title=f"{result.model} @ {result.endpoint} ({result.max_tokens} output tokens)")
        for column in (
            "conc.",
            "done",
            "failed",
            "out tok/s",
            "req/s",
            "TTFT p50/p99 ms",
            "ITL p50/p99 ms",
            "TPOT p50 ms",
        ):
            table.add_column(column, justify="right")
        for r in result.latency:
            table.add_row(
                str(r.concurrency),
                str(r.completed),
                str(r.failed),
                f"{r.output_tokens_per_s:.1f}",
                f"{r.requests_per_s:.2f}",
                f"{r.ttft_ms.p50:.0f} / {r.ttft_ms.p99:.0f}",
                f"{r.itl_ms.p50:.1f} / {r.itl_ms.p99:.1f}",
                f"{r.tpot_ms.p50:.1f}",
            )
        out.print(table)


_CompareAArgument = Annotated[
    str, typer.Argument(help="Model A: a model directory (loaded in-process) or an http(s):// endpoint.")
]
_CompareBArgument = Annotated[str, typer.Argument(help="Model B: a model directory or an endpoint.")]
_ComparePromptsOption = Annotated[
    str, typer.Option("--prompts", "-p", help="Prompts both answer: one per line, or a data file.")
]
_CompareOutputOption = Annotated[Path, typer.Option("--output", "-o", help="Directory for compare.json/.html.")]
_CompareReferenceOption = Annotated[
    str | None, typer.Option("--reference", "-r", help="Reference texts: perplexity of each in-process model on them.")
]
_CompareJudgeOption = Annotated[
    str | None, typer.Option("--judge", "-j", help="Judge model (directory or endpoint): win-rate, both orders.")
]
_CompareJudgeModelOption = Annotated[
    str | None, typer.Option("--judge-model", help="Model name at the judge's endpoint.")
]
_CompareAModelOption = Annotated[str | None, typer.Option("--a-model", help="Model name at A's endpoint.")]
_CompareBModelOption = Annotated[str | None, typer.Option("--b-model", help="Model name at B's endpoint.")]
_CompareANameOption = Annotated[str | None, typer.Option("--a-name", help="A's name in the report.")]
_CompareBNameOption = Annotated[str | None, typer.Option("--b-name", help="B's name in the report.")]
_CompareBackendOption = Annotated[
    str, typer.Option("--backend", help="Backend that loads model directories (hf, vllm...).")
]
_CompareApiKeyEnvOption = Annotated[
    str | None, typer.Option("--api-key-env", help="Environment variable with the endpoints' key.")
]
_CompareSystemPromptOption = Annotated[str | None, typer.Option("--system", help="System prompt for both models.")]
_CompareMaxTokensOption = Annotated[int, typer.Option("--max-tokens", help="Most tokens per answer.")]
_CompareTemperatureOption = Annotated[float, typer.Option("--temperature", help="Sampling temperature (0: greedy).")]
_CompareSeedOption = Annotated[int, typer.Option("--seed", help="Seed of every request.")]
_CompareMaxSamplesOption = Annotated[int | None, typer.Option("--max-samples", help="Use at most this many prompts.")]
_CompareConcurrencyOption = Annotated[int, typer.Option("--concurrency", help="Requests in flight per model.")]
_ComparePngOption = Annotated[
    bool, typer.Option("--png/--no-png", help="Also render compare.png with headless Chromium, when one is installed.")
]
_CompareAsJsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
_CompareTasksOption = Annotated[
    str | None,
    typer.Option(
        "--tasks", help="Also score both on lm-evaluation-harness tasks (comma-separated; see lf evaluate tasks)."
    ),
]
_CompareTaskLimitOption = Annotated[int | None, typer.Option("--task-limit", help="At most this many items per task.")]


def compare(
    a: _CompareAArgument,
    b: _CompareBArgument,
    prompts: _ComparePromptsOption,
    output: _CompareOutputOption = Path("compare-report"),
    reference: _CompareReferenceOption = None,
    judge: _CompareJudgeOption = None,
    judge_model: _CompareJudgeModelOption = None,
    a_model: _CompareAModelOption = None,
    b_model: _CompareBModelOption = None,
    a_name: _CompareANameOption = None,
    b_name: _CompareBNameOption = None,
    backend: _CompareBackendOption = "hf",
    api_key_env: _CompareApiKeyEnvOption = None,
    system_prompt: _CompareSystemPromptOption = None,
    max_tokens: _CompareMaxTokensOption = 256,
    temperature: _CompareTemperatureOption = 0.0,
    seed: _CompareSeedOption = 0,
    max_samples: _CompareMaxSamplesOption = None,
    concurrency: _CompareConcurrencyOption = 4,
    png: _ComparePngOption = True,
    as_json: _CompareAsJsonOption = False,
    tasks: _CompareTasksOption = None,
    task_limit: _CompareTaskLimitOption = None,
) -> None:
    """Answer the same prompts with models A and B; write a side-by-side report (JSON and HTML).

    Optional: perplexity on a reference set (--reference), a judge's win-rate with both orders of
    each pair, against position bias (--judge), and lm-evaluation-harness task scores (--tasks).

    Examples:
      lf evaluate compare smollm2 runs/sft-smollm2/merged --prompts prompts.txt --reference heldout.jsonl
      lf evaluate compare http://127.0.0.1:8000 http://127.0.0.1:8001 --prompts p.txt --judge http://127.0.0.1:8002
    """
    from lf.plugin_api import RichEvents, interruptible, print_json
    from lf_generate.evaluate.compare import compare_models

    texts, ref_texts = _compare_texts(prompts, max_samples, max_tokens, reference)
    ref_a, ref_b, judge_ref = _model_refs(
        (a, a_model), (b, b_model), (judge, judge_model), backend=backend, api_key_env=api_key_env
    )
    with interruptible(), RichEvents() as events:
        report = compare_models(
            ref_a,
            ref_b,
            texts,
            labels=(a_name, b_name),
            reference=ref_texts,
            reference_label=reference,
            judge=judge_ref,
            **_sampling(system_prompt, max_tokens, temperature, seed, concurrency),
            events=events,
            tasks=[t for t in (tasks or "").split(",") if t.strip()],
            task_limit=task_limit,
        )
        paths = _write_compare_report(report, output, png)
    if as_json:
        print_json(report)
        return
    _print_compare(report, paths)


def _sampling(system_prompt: str | None, max_tokens: int, temperature: float, seed: int, concurrency: int) -> Any:
    """How both models answer (compare_models' keywords)."""
    return {
        "system_prompt": system_prompt,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "seed": seed,
        "concurrency": concurrency,
    }


def _model_refs(
    a: tuple[str, str | None],
    b: tuple[str, str | None],
    judge: tuple[str | None, str | None],
    *,
    backend: str,
    api_key_env: str | None,
) -> tuple[Any, Any, Any]:
    """References to models A and B and to the judge (None without one): each ``(model, served model name)``."""
    from lf_generate.evaluate.compare import default_judge, model_ref

    ref_a = model_ref(a[0], served_model=a[1], backend=backend, api_key_env=api_key_env)
    ref_b = model_ref(b[0], served_model=b[1], backend=backend, api_key_env=api_key_env)
    judge_ref = (
        default_judge(judge[0], served_model=judge[1], backend=backend, api_key_env=api_key_env) if judge[0] else None
    )
    return ref_a, ref_b, judge_ref


def _compare_texts(
    prompts: str, max_samples: int | None, max_tokens: int, reference: str | None
) -> tuple[list[str], list[str] | None]:
    """The prompts (at most ``max_samples``) and the reference texts, if any; checks ``max_tokens``."""
    from lf.errors import ConfigError
    from lf_generate.prompts import read_prompt_file

    texts = read_prompt_file(prompts)[:max_samples] if max_samples else read_prompt_file(prompts)
    if max_tokens < 1:
        raise ConfigError("--max-tokens must be at least 1.")
    ref_texts = None
    if reference is not None:
        from lf_evaluate import load_texts

        ref_texts = load_texts(reference)
    return texts, ref_texts


def _write_compare_report(report: Any, output: Path, png: bool) -> dict[str, Path]:
    """Write compare.json/.html to ``output`` (and compare.png when asked and Chromium is there)."""
    from lf_generate.evaluate.report import render_png, write_report

    paths = write_report(report, output)
    if png:
        height = min(8000, 900 + 320 * len(report.rows))  # the summary and (most of) the answers
        shot = render_png(paths["html"], paths["html"].with_suffix(".png"), height=height)
        if shot is not None:
            paths["png"] = shot
    return paths


def _print_compare(report: Any, paths: dict[str, Path]) -> None:
    """One line per model, the judge's verdict, and the files written."""
    from lf.plugin_api import console, info

    out = console()
    for side in (report.a, report.b):
        ppl = f"{side.perplexity:.3f}" if side.perplexity is not None else "-"
        latency = f"{side.mean_latency_s:.2f} s" if side.mean_latency_s is not None else "-"
        scores = "".join(f", {name} {value:.3f}" for name, value in side.task_scores.items())
        out.print(
            f"[bold]{side.label}[/]: answered {side.answered}/{side.answered + side.failed}, "
            f"perplexity {ppl}, mean latency {latency}{scores}"
        )
    if report.judge is not None:
        j = report.judge
        rate = f"{100 * j.win_rate_a:.1f} %" if j.win_rate_a is not None else "-"
        out.print(
            f"judge: A wins {j.wins_a}, B wins {j.wins_b}, ties {j.ties}, unscored {j.unscored}; win rate of A {rate}"
        )
    for kind, path in paths.items():
        info(f"wrote {kind}: {path}")
