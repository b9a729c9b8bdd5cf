"""``lf plan`` with no arguments: a few questions with defaults, checked as they are answered.

Every answer is validated on the spot (the question is asked again with the reason); Enter takes
the default shown in brackets; Ctrl-C leaves cleanly (exit code 130) and end of input exits 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lf.errors import LFError

Parser = Callable[[str], Any]


@dataclass
class Question:
    """One prompt: the flag it fills, its text, default, parser (raises ValueError with the reason)."""

    flag: str
    text: str
    parse: Parser
    default: str | None = None
    optional: bool = False


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False) -> Parser:
    def parse(text: str) -> Any:
        try:
            value = kind(float(text.replace("_", "").replace(",", ""))) if kind is int else kind(text)
        except ValueError:
            raise ValueError(f"'{text}' is not {'a whole number' if kind is int else 'a number'}") from None
        if kind is int and float(text.replace("_", "").replace(",", "")) != value:
            raise ValueError(f"'{text}' is not a whole number")
        if low is not None and (value <= low if low_open else value < low):
            raise ValueError(f"must be {'greater than' if low_open else 'at least'} {low:g}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high:g}")
        return value

    return parse


def _choice(*options: str) -> Parser:
    def parse(text: str) -> str:
        for option in options:
            if text.strip().lower() == option.lower():
                return option
        raise ValueError("choose one of " + ", ".join(options))

    return parse


def _yes_no(text: str) -> bool:
    t = text.strip().lower()
    if t in ("y", "yes", "true", "1"):
        return True
    if t in ("n", "no", "false", "0"):
        return False
    raise ValueError("answer y or n")


def _gpu(text: str) -> str:
    from lf_planner.hardware import load_catalog

    try:
        return load_catalog().gpu(text).name
    except LFError as exc:
        raise ValueError(f"{exc.message} {exc.hint or ''}".strip()) from None


def _provider(text: str) -> str:
    from lf_planner.hardware import load_catalog

    providers = load_catalog().providers()
    if text.strip().lower() not in providers:
        raise ValueError("providers with prices: " + ", ".join(providers))
    return text.strip().lower()


def _model(text: str) -> tuple[str, Any]:
    """A size in billions, or a path / known name (checked now)."""
    try:
        size = float(text)
    except ValueError:
        from lf_planner.architecture import resolve

        try:
            resolve(None, text.strip())
        except LFError as exc:
            raise ValueError(f"{exc.message} {exc.hint or ''}".strip()) from None
        return "model", text.strip()
    if not 0 < size <= 20000:
        raise ValueError("the size is in billions of parameters, e.g. 7 or 70")
    return "model_size", size


INFERENCE = [
    Question("rps", "Requests per second (average)", _number(float, 0, None, True)),
    Question("input_tokens", "Average input (prompt) tokens per request", _number(int, 0, None, True), "500"),
    Question("output_tokens", "Average output tokens per request", _number(int, 0, None, True), "200"),
    Question("model", "Model size in billions, or a model directory / config.json / known name", _model, "7"),
    Question(
        "precision",
        "Weight precision (FP32, FP16, BF16, FP8, INT8, INT4)",
        _choice("FP32", "FP16", "BF16", "FP8", "INT8", "INT4"),
        "BF16",
    ),
    Question("context_window", "Context window (max tokens per sequence)", _number(int, 0, None, True), "4096"),
    Question("peak_multiplier", "Peak traffic as a multiple of the average (1-10)", _number(float, 1, 10), "1.5"),
    Question("growth_rate", "Traffic growth to plan for, percent (0-1000)", _number(float, 0, 1000), "0"),
    Question(
        "latency_p50",
        "Median time-to-first-token target in ms (Enter: none)",
        _number(float, 0, None, True),
        optional=True,
    ),
    Question(
        "latency_p99",
        "p99 time-to-first-token target in ms (Enter: none)",
        _number(float, 0, None, True),
        optional=True,
    ),
    Question("gpu_type", "GPU type (Enter: let the planner recommend one)", _gpu, optional=True),
    Question("cost", "Include costs? (y/n)", _yes_no, "y"),
    Question("cloud_provider", "Cloud provider for prices (Enter: the cheapest listed)", _provider, optional=True),
]

TRAINING = [
    Question("dataset_size", "Dataset size in tokens (e.g. 1e9)", _number(int, 0, None, True)),
    Question("sequence_length", "Sequence length (tokens)", _number(int, 0, None, True), "2048"),
    Question("epochs", "Epochs", _number(int, 0, None, True), "1"),
    Question("global_batch_size", "Global batch size (sequences per step)", _number(int, 0, None, True), "64"),
    Question("micro_batch_size", "Micro batch size per GPU", _number(int, 0, None, True), "1"),
    Question("model", "Model size in billions, or a model directory / config.json / known name", _model, "7"),
    Question("method", "Method (full, lora, qlora)", _choice("full", "lora", "qlora"), "lora"),
    Question("gradient_checkpointing", "Gradient checkpointing? (y/n)", _yes_no, "y"),
    Question(
        "training_precision",
        "Training precision (FP32, FP16, BF16, FP8)",
        _choice("FP32", "FP16", "BF16", "FP8"),
        "BF16",
    ),
    Question(
        "optimizer",
        "Optimizer (Adam, AdamW, Adam8bit, Adafactor, SGD)",
        _choice("Adam", "AdamW", "Adam8bit", "Adafactor", "SGD"),
        "AdamW",
    ),
    Question("gpu_type", "GPU type (Enter: let the planner recommend one)", _gpu, optional=True),
    Question("cost", "Include costs? (y/n)", _yes_no, "y"),
    Question("cloud_provider", "Cloud provider for prices (Enter: the cheapest listed)", _provider, optional=True),
]


def _ask(con: Any, q: Question) -> Any:
    from rich.markup import escape

    suffix = f" [dim]\\[{escape(q.default)}][/]" if q.default is not None else ""
    while True:
        con.print(f"[bold]{escape(q.text)}[/]{suffix}: ", end="")
        raw = input().strip()
        if not raw:
            if q.default is not None:
                raw = q.default
            elif q.optional:
                return None
            else:
                con.print("  [red]x[/] an answer is needed here")
                continue
        try:
            return q.parse(raw)
        except ValueError as exc:
            con.print(f"  [red]x[/] {escape(str(exc))}")


def _collect(con: Any, questions: list[Question]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for q in questions:
        if q.flag == "cloud_provider" and not answers.get("cost"):
            continue
        value = _ask(con, q)
        if q.flag == "model":
            key, model = value
            answers[key] = model
        else:
            answers[q.flag] = value
    return answers


def run_interactive(mode: str | None = None) -> None:
    """Ask, plan, show, and offer to save."""
    import typer

    from lf.plugin_api import console, interruptible

    con = console()
    with interruptible():
        try:
            _session(con, mode)
        except EOFError:
            console(stderr=True).print("\n[yellow]input ended before the plan was complete[/]: nothing was planned")
            raise typer.Exit(1) from None


def _session(con: Any, mode: str | None) -> None:
    from lf_planner.configfile import FLAGS, build
    from lf_planner.engine import LLMForecastEngine
    from lf_planner.export import write
    from lf_planner.render import print_plan

    con.print("[bold]lf plan[/]: answer a few questions (Enter keeps the [dim]\\[default][/], Ctrl-C quits).")
    if mode is None:
        mode = _ask(
            con,
            Question(
                "mode",
                "Plan serving or fine-tuning? (inference, training)",
                _choice("inference", "training"),
                "inference",
            ),
        )
    questions = TRAINING if mode == "training" else INFERENCE
    answers = _collect(con, questions)
    from lf_planner.config import InferenceConfig, TrainingConfig

    struct: Any = TrainingConfig if mode == "training" else InferenceConfig
    while True:
        try:
            cfg = build(struct, None, answers)
            plan = LLMForecastEngine().plan(cfg)
            break
        except LFError as exc:
            from rich.markup import escape

            con.print(
                f"[red]x[/] {escape(exc.message)}" + (f"\n  [cyan]hint:[/] {escape(exc.hint)}" if exc.hint else "")
            )
            field = str(exc.details.get("field", "")) if exc.details else ""
            flag = next((name for name, path in FLAGS.items() if path == field), None)
            again = [q for q in questions if q.flag == flag or (flag in ("model_size", "model") and q.flag == "model")]
            if not again:
                again = [q for q in questions if q.flag in ("model", "gpu_type", "context_window")]
                con.print("  [dim]let's revisit the model and hardware answers[/]")
            for q in again:
                value = _ask(con, q)
                if q.flag == "model":
                    answers.pop("model_size", None)
                    answers.pop("model", None)
                    answers[value[0]] = value[1]
                else:
                    answers[q.flag] = value
    con.print()
    print_plan(plan)
    con.print()
    target = _ask(
        con, Question("output", "Save the plan to a file (.json, .csv, .html; Enter: don't save)", str, optional=True)
    )
    if target:
        used = write(plan, Path(target))
        con.print(f"wrote {used.upper()} plan: {target}")
