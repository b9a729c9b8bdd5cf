"""``lf evaluate compare A B``: two models answer the same prompts, side by side.

Each model is a model directory loaded in this process by a backend, or an
OpenAI-compatible endpoint. The models answer one after the other (only one is loaded at a
time), each prompt with the same sampling options and seed. Then, when asked:

* **perplexity** of each in-process model on a reference set (``lf_evaluate``); an
  endpoint has no perplexity here (the OpenAI API gives no prompt log-probabilities);
* **judge win-rate**: a judge model sees every pair twice, A first then B first, and a
  model wins a prompt only when both orders prefer it - disagreeing orders (position bias)
  count as a tie. ``win_rate_a = (wins_a + ties / 2) / judged``.

The report is a :class:`CompareReport`; :mod:`lf_generate.evaluate.report` writes it as
JSON and as a self-contained HTML page.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import msgspec

from lf.components import Events, NullEvents
from lf.errors import ConfigError
from lf.models import resolve_model
from lf_generate.config import JudgeConfig, ModelRef
from lf_generate.judge import PAIR_RUBRIC, Verdict, combine_orderings, pair_messages, parse_verdict
from lf_generate.models import RequestFailedError, check_ref, open_model, retrying


class ModelSummary(msgspec.Struct, kw_only=True):
    """One side of the comparison."""

    label: str
    source: str
    kind: str
    model: str = ""
    answered: int = 0
    failed: int = 0
    perplexity: float | None = None
    perplexity_note: str | None = None
    mean_latency_s: float | None = None
    completion_tokens: int = 0
    tokens_per_s: float | None = None
    mean_answer_chars: float | None = None
    wins: int = 0
    #: ``{"task metric": value}`` from ``--tasks`` (lm-evaluation-harness), or why there are none.
    task_scores: dict[str, float] = {}
    task_note: str | None = None


class Row(msgspec.Struct, kw_only=True):
    """One prompt, both answers, and the judge's verdicts."""

    prompt: str
    answer_a: str | None = None
    answer_b: str | None = None
    error_a: str | None = None
    error_b: str | None = None
    latency_a: float | None = None
    latency_b: float | None = None
    tokens_a: int = 0
    tokens_b: int = 0
    #: The judge's raw answers: A shown first, then B shown first.
    judge_a_first: str | None = None
    judge_b_first: str | None = None
    #: What each order said, in terms of the models (``A``, ``B``, ``tie``; None: unparsed).
    verdict_a_first: str | None = None
    verdict_b_first: str | None = None
    verdict: str | None = None


class JudgeSummary(msgspec.Struct, kw_only=True):
    """The win-rate of A against B by a judge, both orders."""

    judge: str
    judged: int
    wins_a: int
    wins_b: int
    ties: int
    unscored: int
    win_rate_a: float | None
    win_rate_b: float | None
    position_consistency: float | None


class CompareReport(msgspec.Struct, kw_only=True):
    """Everything ``lf evaluate compare`` found."""

    created: str
    a: ModelSummary
    b: ModelSummary
    rows: list[Row]
    settings: dict[str, Any] = {}
    judge: JudgeSummary | None = None
    seconds: float = 0.0


def model_ref(
    spec: str, *, served_model: str | None = None, backend: str = "hf", api_key_env: str | None = None
) -> ModelRef:
    """A :class:`ModelRef` from a command-line argument: an ``http(s)://`` endpoint or a model directory."""
    if spec.startswith(("http://", "https://")):
        return ModelRef(base_url=spec, model=served_model, api_key_env=api_key_env)
    return ModelRef(model=spec, backend=backend)


def _label(ref: ModelRef) -> str:
    if ref.base_url:
        return f"{ref.model or 'model'} @ {ref.base_url}"
    from pathlib import Path

    return Path(ref.model or "model").name or str(ref.model)


async def _answers(
    ref: ModelRef,
    what: str,
    prompts: list[str],
    *,
    system_prompt: str | None,
    max_tokens: int,
    temperature: float,
    seed: int,
    concurrency: int,
    max_retries: int,
    events: Events,
) -> tuple[str, list[tuple[str | None, str | None, float | None, int]]]:
    """``(model name, [(answer, error, seconds, tokens) per prompt])``."""
    model = open_model(ref, what)
    events.message(f"loading {what}: {ref.base_url or ref.model}")
    await model.open()
    slots = asyncio.Semaphore(concurrency)
    done = 0
    label = f"answers of {what}"
    events.progress(label, 0, len(prompts))

    async def one(prompt: str) -> tuple[str | None, str | None, float | None, int]:
        nonlocal done
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": prompt}
        ]

        async def ask() -> Any:
            async with slots:
                started = time.perf_counter()
                reply = await model.chat(messages, temperature=temperature, max_tokens=max_tokens, seed=seed)
                return reply, time.perf_counter() - started

        try:
            reply, seconds = await retrying(ask, max_retries=max_retries, backoff_s=0.5)
            result: tuple[str | None, str | None, float | None, int] = (
                reply.text.strip(),
                None,
                seconds,
                reply.completion_tokens,
            )
        except RequestFailedError as failed:
            result = (None, failed.error, None, 0)
        done += 1
        events.progress(label, done, len(prompts))
        return result

    try:
        answers = await asyncio.gather(*(one(p) for p in prompts))
    finally:
        await model.aclose()
    return model.name, list(answers)


async def _judge_rows(ref: JudgeConfig, rows: list[Row], *, concurrency: int, max_retries: int, events: Events) -> str:
    judge = open_model(ref, "judge")
    events.message(f"loading the judge: {ref.base_url or ref.model}")
    await judge.open()
    slots = asyncio.Semaphore(concurrency)
    both = [r for r in rows if r.answer_a is not None and r.answer_b is not None]
    done = 0
    events.progress("judging", 0, len(both))

    async def ask(prompt: str, first: str, second: str) -> str | None:
        async def call() -> Any:
            async with slots:
                return await judge.chat(
                    pair_messages(ref.rubric, prompt, first, second),
                    temperature=0.0,
                    max_tokens=ref.max_tokens,
                    seed=0,
                )

        try:
            return str((await retrying(call, max_retries=max_retries, backoff_s=0.5)).text)
        except RequestFailedError:
            return None

    async def one(row: Row) -> None:
        nonlocal done
        assert row.answer_a is not None and row.answer_b is not None
        row.judge_a_first, row.judge_b_first = await asyncio.gather(
            ask(row.prompt, row.answer_a, row.answer_b), ask(row.prompt, row.answer_b, row.answer_a)
        )
        first = parse_verdict(row.judge_a_first) if row.judge_a_first else None
        swapped = parse_verdict(row.judge_b_first) if row.judge_b_first else None
        row.verdict_a_first = first
        row.verdict_b_first = None if swapped is None else {"A": "B", "B": "A", "tie": "tie"}[swapped]
        row.verdict = combine_orderings(first, swapped)
        done += 1
        events.progress("judging", done, len(both))

    try:
        await asyncio.gather(*(one(r) for r in both))
    finally:
        await judge.aclose()
    return judge.name


def _judge_summary(judge: str, rows: list[Row]) -> JudgeSummary:
    verdicts: list[Verdict | None] = [r.verdict for r in rows if r.answer_a is not None and r.answer_b is not None]  # type: ignore[misc]
    judged = [v for v in verdicts if v is not None]
    wins_a, wins_b, ties = judged.count("A"), judged.count("B"), judged.count("tie")
    pairs = [(r.verdict_a_first, r.verdict_b_first) for r in rows if r.verdict_a_first and r.verdict_b_first]
    n = len(judged)
    return JudgeSummary(
        judge=judge,
        judged=n,
        wins_a=wins_a,
        wins_b=wins_b,
        ties=ties,
        unscored=len(verdicts) - n,
        win_rate_a=(wins_a + ties / 2) / n if n else None,
        win_rate_b=(wins_b + ties / 2) / n if n else None,
        position_consistency=sum(a == b for a, b in pairs) / len(pairs) if pairs else None,
    )


def _summarize(side: ModelSummary, answers: list[tuple[str | None, str | None, float | None, int]]) -> None:
    ok = [a for a in answers if a[0] is not None]
    side.answered, side.failed = len(ok), len(answers) - len(ok)
    if ok:
        seconds = [a[2] or 0.0 for a in ok]
        side.mean_latency_s = sum(seconds) / len(ok)
        side.completion_tokens = sum(a[3] for a in ok)
        side.tokens_per_s = side.completion_tokens / sum(seconds) if sum(seconds) > 0 else None
        side.mean_answer_chars = sum(len(a[0] or "") for a in ok) / len(ok)


def compare_models(
    a: ModelRef,
    b: ModelRef,
    prompts: list[str],
    *,
    labels: tuple[str | None, str | None] = (None, None),
    reference: list[str] | None = None,
    reference_label: str | None = None,
    judge: JudgeConfig | None = None,
    system_prompt: str | None = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
    seed: int = 0,
    concurrency: int = 4,
    max_retries: int = 2,
    events: Events | None = None,
    tasks: list[str] | None = None,
    task_limit: int | None = None,
) -> CompareReport:
    """Compare two models on ``prompts`` (see the module docstring)."""
    events = events or NullEvents()
    started = time.perf_counter()
    _check_refs(a, b, judge)
    prompts = [p for p in (p.strip() for p in prompts) if p]
    if not prompts:
        raise ConfigError("No prompts to compare on.", hint="Give --prompts FILE with one prompt per line.")
    sides = [_new_side(a, labels[0]), _new_side(b, labels[1])]
    rows = [Row(prompt=p) for p in prompts]
    common = {
        "system_prompt": system_prompt,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "seed": seed,
        "concurrency": concurrency,
        "max_retries": max_retries,
        "events": events,
    }
    for side, ref, what in ((sides[0], a, "A"), (sides[1], b, "B")):
        name, answers = asyncio.run(_answers(ref, what, prompts, **common))  # type: ignore[arg-type]
        side.model = name
        _summarize(side, answers)
        _fill_answers(rows, answers, what)
    _measure_extras(sides, (a, b), reference, tasks, task_limit, events)
    judge_summary = None
    if judge is not None:
        name = asyncio.run(_judge_rows(judge, rows, concurrency=concurrency, max_retries=max_retries, events=events))
        judge_summary = _judge_summary(name or _label(judge), rows)
        sides[0].wins, sides[1].wins = judge_summary.wins_a, judge_summary.wins_b
    return CompareReport(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        a=sides[0],
        b=sides[1],
        rows=rows,
        settings={**_settings(len(prompts), common, reference, reference_label, judge), "tasks": tasks or []},
        judge=judge_summary,
        seconds=round(time.perf_counter() - started, 2),
    )


def _settings(
    n_prompts: int,
    common: dict[str, Any],
    reference: list[str] | None,
    reference_label: str | None,
    judge: JudgeConfig | None,
) -> dict[str, Any]:
    """What the comparison ran with, for the report."""
    return {
        "prompts": n_prompts,
        "system_prompt": common["system_prompt"],
        "max_tokens": common["max_tokens"],
        "temperature": common["temperature"],
        "seed": common["seed"],
        "reference": reference_label if reference is not None else None,
        "reference_texts": len(reference) if reference is not None else 0,
        "judge_rubric": judge.rubric if judge is not None else None,
    }


def _check_refs(a: ModelRef, b: ModelRef, judge: JudgeConfig | None) -> None:
    """Check the three references before anything runs (a wrong directory fails now, not after A answered)."""
    for ref, what in ((a, "a"), (b, "b"), (judge, "judge")):
        if ref is not None:
            check_ref(ref, what)
            if not ref.base_url:
                resolve_model(ref.model or "")


def _new_side(ref: ModelRef, label: str | None) -> ModelSummary:
    """The (still empty) summary of one compared model."""
    return ModelSummary(
        label=label or _label(ref),
        source=ref.base_url or str(ref.model),
        kind="endpoint" if ref.base_url else f"in-process ({ref.backend})",
    )


def _fill_answers(rows: list[Row], answers: list[tuple[str | None, str | None, float | None, int]], what: str) -> None:
    """Put side ``what``'s (``A`` or ``B``) answer, error, latency and tokens into each row."""
    for row, (text, error, seconds, tokens) in zip(rows, answers, strict=True):
        if what == "A":
            row.answer_a, row.error_a, row.latency_a, row.tokens_a = text, error, seconds, tokens
        else:
            row.answer_b, row.error_b, row.latency_b, row.tokens_b = text, error, seconds, tokens


def _measure_extras(
    sides: list[ModelSummary],
    refs: tuple[ModelRef, ModelRef],
    reference: list[str] | None,
    tasks: list[str] | None,
    task_limit: int | None,
    events: Events,
) -> None:
    """Perplexity on the reference texts and task scores (lm-evaluation-harness), when asked."""
    if reference is not None:
        _measure_perplexities(sides, refs, reference, events)
    if tasks:
        from lf_generate.evaluate.compare_tasks import measure_tasks

        measure_tasks(sides, refs, tasks, limit=task_limit, events=events)


def _measure_perplexities(
    sides: list[ModelSummary], refs: tuple[ModelRef, ModelRef], reference: list[str], events: Events
) -> None:
    """Perplexity of each in-process model on the reference texts (endpoints get a note instead)."""
    from lf_evaluate import perplexity

    for side, ref in zip(sides, refs, strict=True):
        if ref.base_url:
            side.perplexity_note = "not measured: an OpenAI-compatible endpoint gives no prompt log-probabilities"
            continue
        measured = perplexity(
            resolve_model(ref.model or ""), reference, events=events, label=f"perplexity of {side.label}"
        )
        side.perplexity = measured.perplexity


def default_judge(spec: str, *, served_model: str | None, backend: str, api_key_env: str | None) -> JudgeConfig:
    """The judge of a comparison, from a command-line argument (URL or model directory)."""
    ref = model_ref(spec, served_model=served_model, backend=backend, api_key_env=api_key_env)
    return JudgeConfig(
        base_url=ref.base_url,
        model=ref.model,
        api_key_env=ref.api_key_env,
        backend=ref.backend,
        rubric=PAIR_RUBRIC,
        max_tokens=32,
    )
