"""``lf evaluate benchmark`` and ``lf evaluate compare`` (only typer, already loaded by ``lf``, is imported here)."""

from __future__ import annotations

from pathlib import Path

import typer

GROUP_HELP = "Evaluate models: perplexity, benchmarks (latency, throughput) and side-by-side comparisons."


def add_commands(app: typer.Typer) -> None:
    """Add ``benchmark`` and ``compare`` to the shared ``lf evaluate`` group (created if missing)."""
    from lf.cli.friendly import group

    evaluate = group(app, "evaluate", help=GROUP_HELP, panel="Plugins")
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


def benchmark(
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model directory (or tiny, smollm2): measure its perplexity on --data."
    ),
    data: str | None = typer.Option(
        None, "--data", "-d", help="Held-out text for perplexity: a data file of any lf format or a text file."
    ),
    url: str | None = typer.Option(
        None, "--url", "-u", help="Running OpenAI-compatible endpoint: measure latency and throughput."
    ),
    served_model: str | None = typer.Option(
        None, "--served-model", help="Model name at the endpoint (default: its first model)."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Environment variable holding the endpoint's API key."
    ),
    concurrency: str = typer.Option("1", "--concurrency", "-c", help="Requests in flight; several levels: 1,8,32."),
    requests: int = typer.Option(16, "--requests", "-n", help="Requests measured at each concurrency level."),
    max_tokens: int = typer.Option(64, "--max-tokens", help="Output tokens per request."),
    temperature: float = typer.Option(0.7, "--temperature", help="Sampling temperature."),
    prompts: str | None = typer.Option(None, "--prompts", help="Prompts to send (one per line, or a data file)."),
    ignore_eos: bool = typer.Option(
        False, "--ignore-eos", help="Ask for exactly --max-tokens tokens (lf and vLLM servers; fixed-length runs)."
    ),
    warmup: int = typer.Option(1, "--warmup", help="Unmeasured requests sent first."),
    max_samples: int | None = typer.Option(None, "--max-samples", help="Perplexity: use at most this many texts."),
    max_length: int | None = typer.Option(None, "--max-length", help="Perplexity: tokens per window."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the result as JSON to this file."),
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
    from lf.cli.console import RichEvents, interruptible, print_json
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

    from lf.cli.console import console
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


def compare(
    a: str = typer.Argument(..., help="Model A: a model directory (loaded in-process) or an http(s):// endpoint."),
    b: str = typer.Argument(..., help="Model B: a model directory or an endpoint."),
    prompts: str = typer.Option(..., "--prompts", "-p", help="Prompts both answer: one per line, or a data file."),
    output: Path = typer.Option(Path("compare-report"), "--output", "-o", help="Directory for compare.json/.html."),
    reference: str | None = typer.Option(
        None, "--reference", "-r", help="Reference texts: perplexity of each in-process model on them."
    ),
    judge: str | None = typer.Option(
        None, "--judge", "-j", help="Judge model (directory or endpoint): win-rate, both orders."
    ),
    judge_model: str | None = typer.Option(None, "--judge-model", help="Model name at the judge's endpoint."),
    a_model: str | None = typer.Option(None, "--a-model", help="Model name at A's endpoint."),
    b_model: str | None = typer.Option(None, "--b-model", help="Model name at B's endpoint."),
    a_name: str | None = typer.Option(None, "--a-name", help="A's name in the report."),
    b_name: str | None = typer.Option(None, "--b-name", help="B's name in the report."),
    backend: str = typer.Option("hf", "--backend", help="Backend that loads model directories (hf, vllm...)."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Environment variable with the endpoints' key."),
    system_prompt: str | None = typer.Option(None, "--system", help="System prompt for both models."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Most tokens per answer."),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature (0: greedy)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every request."),
    max_samples: int | None = typer.Option(None, "--max-samples", help="Use at most this many prompts."),
    concurrency: int = typer.Option(4, "--concurrency", help="Requests in flight per model."),
    png: bool = typer.Option(
        True, "--png/--no-png", help="Also render compare.png with headless Chromium, when one is installed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Answer the same prompts with models A and B; write a side-by-side report (JSON and HTML).

    Optional: perplexity of each on a reference set (--reference), and a judge's win-rate
    with both orders of each pair, to cancel position bias (--judge).

    Examples:
      lf evaluate compare smollm2 runs/sft-smollm2/merged --prompts prompts.txt --reference heldout.jsonl
      lf evaluate compare http://127.0.0.1:8000 http://127.0.0.1:8001 --prompts p.txt --judge http://127.0.0.1:8002
    """
    from lf.cli.console import RichEvents, console, info, interruptible, print_json
    from lf.errors import ConfigError
    from lf_generate.evaluate.compare import compare_models, default_judge, model_ref
    from lf_generate.evaluate.report import render_png, write_report
    from lf_generate.prompts import read_prompt_file

    texts = read_prompt_file(prompts)[:max_samples] if max_samples else read_prompt_file(prompts)
    if max_tokens < 1:
        raise ConfigError("--max-tokens must be at least 1.")
    ref_texts = None
    if reference is not None:
        from lf_evaluate.texts import load_texts

        ref_texts = load_texts(reference)
    ref_a = model_ref(a, served_model=a_model, backend=backend, api_key_env=api_key_env)
    ref_b = model_ref(b, served_model=b_model, backend=backend, api_key_env=api_key_env)
    judge_ref = (
        default_judge(judge, served_model=judge_model, backend=backend, api_key_env=api_key_env) if judge else None
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
            system_prompt=system_prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            concurrency=concurrency,
            events=events,
        )
        paths = write_report(report, output)
        if png:
            height = min(8000, 900 + 320 * len(report.rows))  # the summary and (most of) the answers
            shot = render_png(paths["html"], paths["html"].with_suffix(".png"), height=height)
            if shot is not None:
                paths["png"] = shot
    if as_json:
        print_json(report)
        return
    out = console()
    for side in (report.a, report.b):
        ppl = f"{side.perplexity:.3f}" if side.perplexity is not None else "-"
        latency = f"{side.mean_latency_s:.2f} s" if side.mean_latency_s is not None else "-"
        out.print(
            f"[bold]{side.label}[/]: answered {side.answered}/{side.answered + side.failed}, "
            f"perplexity {ppl}, mean latency {latency}"
        )
    if report.judge is not None:
        j = report.judge
        rate = f"{100 * j.win_rate_a:.1f} %" if j.win_rate_a is not None else "-"
        out.print(
            f"judge: A wins {j.wins_a}, B wins {j.wins_b}, ties {j.ties}, unscored {j.unscored}; win rate of A {rate}"
        )
    for kind, path in paths.items():
        info(f"wrote {kind}: {path}")
