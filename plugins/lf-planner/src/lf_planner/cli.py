"""``lf plan``: the typer sub-app. Kept light: computation modules load inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lf.plugin_api import new_typer
from lf_planner.cli_group import ConfigModeGroup

HELP = (
    "Plan GPUs, replicas, latency, duration and cost for serving and fine-tuning LLMs, and forecast load.\n\n"
    "Run `lf plan` alone for guided questions, `lf plan inference --rps 10 --input-tokens 500 "
    "--output-tokens 200 --model-size 70 --precision FP16` or `lf plan training ...` with flags, or "
    "`lf plan --config plan.json [--rps 20 ...]` (the mode comes from the file, flags override it; start one "
    "with `lf plan --generate-config inference`)."
)

app = new_typer(HELP, no_args_is_help=False, invoke_without_command=True, cls=ConfigModeGroup)

_OUTPUT = "Write the plan to FILE; .json (default), .csv or .html (a report with charts)."
_FORMAT = "File format when the extension does not say: json, csv or html."
_CONFIG = "A JSON (or YAML) config; flags given on the command line override it."
_HARDWARE = "Your own hardware + prices JSON (same shape as `lf plan gpus --json`), merged over the shipped one."
_EFFICIENCY = "Efficiency factors JSON (from `lf plan calibrate`); default: $LF_PLAN_EFFICIENCY or the built-ins."
_SERVICE_NAME = "Human-readable service (or job) name, recorded in the plan."
_RECORDED = " (recorded in the plan; a training job has no replicas to scale by it)."
_TRAIN_UTILIZATION = (
    "GPU utilization the job should sustain (0-1], recorded in the plan [0.7]; "
    "its speed comes from the efficiency factors (training_mfu)."
)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help=_CONFIG + " Its 'mode' picks inference or training."
    ),
    generate_config: str | None = typer.Option(
        None, "--generate-config", metavar="inference|training", help="Write a template config file and exit."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help=_OUTPUT),
    format: str | None = typer.Option(None, "--format", "-f", help=_FORMAT),
    cost: bool = typer.Option(False, "--cost", help="Include costs (GPU, storage, network) from the prices file."),
    hardware: Path | None = typer.Option(None, "--hardware", help=_HARDWARE),
    efficiency: Path | None = typer.Option(None, "--efficiency", help=_EFFICIENCY),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON instead of the summary."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file (with --generate-config)."),
) -> None:
    """Plan with guided questions (no arguments), a config file, or a subcommand."""
    if ctx.invoked_subcommand:
        if config or generate_config:
            from lf.errors import InvalidRequestError

            raise InvalidRequestError(
                "--config and --generate-config go after the subcommand or without one.",
                hint=f"Use `lf plan {ctx.invoked_subcommand} --config FILE`, or `lf plan --config FILE`.",
            )
        return
    if generate_config:
        _generate(generate_config, output, force)
        return
    if config:
        from lf_planner.configfile import detect_mode, read

        mode = detect_mode(read(config), str(config))
        flags = {"cost": cost or None, "hardware": str(hardware) if hardware else None}
        _run(mode, config, flags, output, format, as_json, efficiency)
        return
    from lf_planner.interactive import run_interactive

    run_interactive()


def _generate(kind: str, output: Path | None, force: bool) -> None:
    import json

    from lf.errors import ConfigError
    from lf_planner.configfile import template
    from lf_planner.export import write_text as atomic_write_text

    kind = kind.strip().lower()
    data = template(kind)
    path = output or Path(f"{kind}_config.json")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists.", hint="Pass --force to overwrite it, or --output another file.")
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    from lf.plugin_api import info

    info(f"wrote {path}: edit it, then run `lf plan --config {path}`")


def _efficiency(path: Path | None) -> dict[str, Any] | None:
    import os

    from lf_planner.calibrate import read_efficiency

    source = path or (Path(os.environ["LF_PLAN_EFFICIENCY"]) if os.environ.get("LF_PLAN_EFFICIENCY") else None)
    return read_efficiency(source) if source else None


def _run(
    mode: str,
    config: Path | None,
    flags: dict[str, Any],
    output: Path | None,
    fmt: str | None,
    as_json: bool,
    efficiency: Path | None,
) -> None:
    from lf_planner.config import InferenceConfig, TrainingConfig
    from lf_planner.configfile import build
    from lf_planner.engine import LLMForecastEngine
    from lf_planner.export import emit

    struct: Any = TrainingConfig if mode == "training" else InferenceConfig
    cfg = build(struct, config, flags, efficiency=_efficiency(efficiency))
    engine = LLMForecastEngine(hardware_file=cfg.options.hardware_file)
    plan = engine.plan(cfg)
    target = output
    if target is None and cfg.options.output_file:
        from lf_planner.export import safe_config_path

        target = safe_config_path(cfg.options.output_file, config)
    emit(plan, target, fmt, as_json)


def _plan_or_ask(mode: str, given: dict[str, Any]) -> None:
    """Plan from a subcommand's flags (and --config), or ask the questions when none was given."""
    outputs = ("output", "format", "config", "as_json", "efficiency")
    output, fmt, config, as_json, efficiency = (given[k] for k in outputs)
    flags = {k: v for k, v in given.items() if k not in outputs}
    flags["hardware"] = str(flags["hardware"]) if flags.get("hardware") else None
    if config is None and all(v in (None, False) for v in flags.values()):
        from lf_planner.interactive import run_interactive

        run_interactive(mode=mode)
        return
    _run(mode, config, flags, output, fmt, as_json, efficiency)


@app.command("inference")
def inference(
    rps: float | None = typer.Option(None, "--rps", help="Average requests per second (> 0)."),
    input_tokens: int | None = typer.Option(None, "--input-tokens", help="Average prompt tokens per request (> 0)."),
    output_tokens: int | None = typer.Option(
        None, "--output-tokens", help="Average generated tokens per request (> 0)."
    ),
    peak_multiplier: float | None = typer.Option(
        None, "--peak-multiplier", help="Peak / average traffic, 1.0-10.0 [1.5]."
    ),
    growth_rate: float | None = typer.Option(
        None, "--growth-rate", help="Traffic growth to plan for, percent 0-1000 [0]."
    ),
    model_size: float | None = typer.Option(None, "--model-size", help="Parameters in billions (7, 70, 405)."),
    model: str | None = typer.Option(
        None, "--model", help="Model directory, config.json, or a known name (lf plan models)."
    ),
    precision: str | None = typer.Option(None, "--precision", help="FP32, FP16, BF16, FP8, INT8 or INT4 [BF16]."),
    kv_cache_precision: str | None = typer.Option(None, "--kv-cache-precision", help="FP16, BF16, FP8 or INT8."),
    context_window: int | None = typer.Option(None, "--context-window", help="Max tokens per sequence [4096]."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Max concurrent sequences per replica [auto]."),
    latency_p50: float | None = typer.Option(None, "--latency-p50", help="Median time-to-first-token target, ms."),
    latency_p99: float | None = typer.Option(None, "--latency-p99", help="p99 time-to-first-token target, ms."),
    itl_target: float | None = typer.Option(None, "--itl-target", help="Inter-token latency target, ms."),
    gpu_type: str | None = typer.Option(None, "--gpu-type", help="GPU type (lf plan gpus) [recommended]."),
    gpu_memory_gb: float | None = typer.Option(None, "--gpu-memory-gb", help="Override the GPU's memory, GB."),
    target_gpu_utilization: float | None = typer.Option(
        None, "--target-gpu-utilization", help="Plan replicas at this share of capacity (0-1] [0.7]."
    ),
    current_replicas: int | None = typer.Option(None, "--current-replicas", help="Replicas running today."),
    cloud_provider: str | None = typer.Option(None, "--cloud-provider", help="aws, gcp, azure, ... [cheapest listed]."),
    region: str | None = typer.Option(None, "--region", help="Region (informational)."),
    service_id: str | None = typer.Option(None, "--service-id", help="Service identifier."),
    service_name: str | None = typer.Option(None, "--service-name", help=_SERVICE_NAME),
    team_id: str | None = typer.Option(None, "--team-id", help="Owning team."),
    environment: str | None = typer.Option(None, "--environment", help="prod, staging or dev (prod: 2+ replicas)."),
    criticality: str | None = typer.Option(None, "--criticality", help="high, medium or low (high: 2+ replicas)."),
    cost: bool = typer.Option(False, "--cost", help="Include costs from the prices file."),
    output: Path | None = typer.Option(None, "--output", "-o", help=_OUTPUT),
    format: str | None = typer.Option(None, "--format", "-f", help=_FORMAT),
    config: Path | None = typer.Option(None, "--config", "-c", help=_CONFIG),
    hardware: Path | None = typer.Option(None, "--hardware", help=_HARDWARE),
    efficiency: Path | None = typer.Option(None, "--efficiency", help=_EFFICIENCY),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON instead of the summary."),
) -> None:
    """Plan serving: GPUs per replica, replicas, tokens/s, TTFT/ITL vs SLA, storage, network, cost.

    Example: lf plan inference --rps 10 --input-tokens 500 --output-tokens 200 --model-size 70 --precision FP16 --cost
    """
    _plan_or_ask("inference", locals())


@app.command("training")
def training(
    dataset_size: int | None = typer.Option(None, "--dataset-size", help="Tokens in the dataset (one epoch)."),
    sequence_length: int | None = typer.Option(None, "--sequence-length", help="Tokens per training sequence."),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the dataset."),
    global_batch_size: int | None = typer.Option(None, "--global-batch-size", help="Sequences per optimizer step."),
    micro_batch_size: int | None = typer.Option(None, "--micro-batch-size", help="Sequences per GPU per pass [1]."),
    gradient_accumulation: int | None = typer.Option(
        None, "--gradient-accumulation", help="Micro-batches per step [derived]."
    ),
    model_size: float | None = typer.Option(None, "--model-size", help="Parameters in billions."),
    model: str | None = typer.Option(
        None, "--model", help="Model directory, config.json, or a known name (lf plan models)."
    ),
    precision: str | None = typer.Option(None, "--precision", help="Base weight precision (FP32, FP16, BF16) [BF16]."),
    training_precision: str | None = typer.Option(None, "--training-precision", help="FP32, FP16, BF16 or FP8 [BF16]."),
    optimizer: str | None = typer.Option(None, "--optimizer", help="Adam, AdamW, Adam8bit, Adafactor or SGD [AdamW]."),
    gradient_checkpointing: bool | None = typer.Option(
        None, "--gradient-checkpointing/--no-gradient-checkpointing", help="Recompute activations [off]."
    ),
    method: str | None = typer.Option(None, "--method", help="full, lora or qlora [full]."),
    lora_rank: int | None = typer.Option(None, "--lora-rank", help="LoRA rank [16]."),
    lora_targets: str | None = typer.Option(
        None, "--lora-targets", help="Comma-separated modules or all-linear [all-linear]."
    ),
    zero_stage: int | None = typer.Option(None, "--zero-stage", help="ZeRO/FSDP stage 0-3 [the least that fits]."),
    max_duration_hours: float | None = typer.Option(
        None, "--max-duration-hours", help="Add GPUs to finish within this."
    ),
    gpu_type: str | None = typer.Option(None, "--gpu-type", help="GPU type (lf plan gpus) [recommended]."),
    gpu_memory_gb: float | None = typer.Option(None, "--gpu-memory-gb", help="Override the GPU's memory, GB."),
    num_gpus: int | None = typer.Option(None, "--num-gpus", help="Use exactly this many GPUs [the fewest that fit]."),
    gpus_per_node: int | None = typer.Option(None, "--gpus-per-node", help="GPUs per server [8]."),
    cloud_provider: str | None = typer.Option(None, "--cloud-provider", help="aws, gcp, azure, ... [cheapest listed]."),
    region: str | None = typer.Option(None, "--region", help="Region (informational)."),
    target_gpu_utilization: float | None = typer.Option(None, "--target-gpu-utilization", help=_TRAIN_UTILIZATION),
    service_id: str | None = typer.Option(None, "--service-id", help="Job identifier."),
    service_name: str | None = typer.Option(None, "--service-name", help=_SERVICE_NAME),
    team_id: str | None = typer.Option(None, "--team-id", help="Owning team."),
    environment: str | None = typer.Option(None, "--environment", help="prod, staging or dev" + _RECORDED),
    criticality: str | None = typer.Option(None, "--criticality", help="high, medium or low" + _RECORDED),
    cost: bool = typer.Option(False, "--cost", help="Include costs from the prices file."),
    output: Path | None = typer.Option(None, "--output", "-o", help=_OUTPUT),
    format: str | None = typer.Option(None, "--format", "-f", help=_FORMAT),
    config: Path | None = typer.Option(None, "--config", "-c", help=_CONFIG),
    hardware: Path | None = typer.Option(None, "--hardware", help=_HARDWARE),
    efficiency: Path | None = typer.Option(None, "--efficiency", help=_EFFICIENCY),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON instead of the summary."),
) -> None:
    """Plan fine-tuning: memory per GPU (weights, gradients, optimizer, activations), GPUs, duration, cost.

    Example: lf plan training --dataset-size 1000000000 --sequence-length 4096 --epochs 3 --global-batch-size 64
    --model-size 70 --method qlora --gradient-checkpointing --cost
    """
    _plan_or_ask("training", locals())


@app.command("forecast")
def forecast(
    history: Path = typer.Argument(
        ..., help="History CSV or JSON: timestamp, metric, value (or cost: timestamp, amount, category)."
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="rps, tps, ttft_ms, itl_ms, gpu_utilization or cost [the first found]."
    ),
    horizon_days: int | None = typer.Option(None, "--horizon-days", help="Days to forecast [30]."),
    horizon_months: int | None = typer.Option(None, "--horizon-months", help="Months to forecast (overrides days)."),
    seasonal_period: int | None = typer.Option(None, "--seasonal-period", help="Season length in days [7]."),
    scenario: str | None = typer.Option(
        None, "--scenario", help="baseline, optimistic, pessimistic or spike [baseline]."
    ),
    variance_threshold: float | None = typer.Option(
        None, "--variance-threshold", help="Drift flag threshold, percent [10]."
    ),
    spike_multiplier: float | None = typer.Option(None, "--spike-multiplier", help="Spike scenario multiplier [2]."),
    budget: float | None = typer.Option(None, "--budget", help="Monthly budget to compare the forecast cost with."),
    aggregate: str = typer.Option(
        "max", "--aggregate", help="How to turn readings into daily values: max, mean or sum."
    ),
    method: str = typer.Option(
        "holt-winters", "--method", help="holt-winters (pure Python) or statsmodels (optional)."
    ),
    plan_config: Path | None = typer.Option(
        None, "--plan-config", help="An inference config: size capacity for the forecast peak's P90 rps."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the forecast: .json (default), .csv or .html."
    ),
    format: str | None = typer.Option(None, "--format", "-f", help=_FORMAT),
    as_json: bool = typer.Option(False, "--json", help="Print the forecast as JSON instead of the summary."),
) -> None:
    """Forecast a metric (or cost) from history: Holt-Winters, P10/P50/P90 with backtested coverage, scenarios.

    Example: lf plan forecast rps_history.csv --metric rps --horizon-days 30 --plan-config inference_config.json
    """
    from lf_planner.forecast.render import emit_forecast
    from lf_planner.forecast.run import ForecastRequest, run_forecast

    request = ForecastRequest(
        history=history,
        metric=metric,
        horizon_days=horizon_days,
        horizon_months=horizon_months,
        seasonal_period=seasonal_period,
        scenario=scenario,
        variance_threshold=variance_threshold,
        spike_multiplier=spike_multiplier,
        budget=budget,
        aggregate=aggregate,
        method=method,
        plan_config=plan_config,
    )
    emit_forecast(run_forecast(request), output, format, as_json)


@app.command("calibrate")
def calibrate(
    results: Path = typer.Argument(..., help="Measured runs (lf-plan-results/v1 JSON; `lf plan schema results`)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the fitted factors here (pass back with --efficiency)."
    ),
    hardware: Path | None = typer.Option(None, "--hardware", help=_HARDWARE),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Fit the efficiency factors (MFU, MBU, ...) to measured training and serving runs.

    Example: lf plan calibrate my_runs.json -o efficiency.json && lf plan inference ... --efficiency efficiency.json
    """
    from lf_planner.calibrate import emit_calibration, run_calibration

    emit_calibration(run_calibration(results, hardware), output, as_json)


@app.command("gpus")
def gpus(
    hardware: Path | None = typer.Option(None, "--hardware", help=_HARDWARE),
    as_json: bool = typer.Option(False, "--json", help="Print the merged hardware file as JSON."),
) -> None:
    """GPU types (memory, bandwidth, dense throughput, interconnect) and their prices with sources."""
    from lf_planner.render import print_gpus

    print_gpus(str(hardware) if hardware else None, as_json)


@app.command("models")
def models() -> None:
    """Known model architectures (usable as --model NAME)."""
    from lf_planner.render import print_models

    print_models()


@app.command("schema")
def schema(
    kind: str = typer.Argument(
        "inference", help="inference, training (plans), inference-config, training-config, results or forecast."
    ),
) -> None:
    """Print a published JSON Schema (the plans, the config files, the calibration results)."""
    import sys

    from lf_planner.schemas import schema_text

    sys.stdout.write(schema_text(kind))


@app.command("render")
def render(
    plan_file: Path = typer.Argument(..., help="A plan exported as JSON by lf plan."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write .html, .csv or .json; nothing: the summary."
    ),
    format: str | None = typer.Option(None, "--format", "-f", help=_FORMAT),
) -> None:
    """Show an exported plan again, or turn it into an HTML report or CSV."""
    from lf_planner.export import emit, load_plan

    emit(load_plan(plan_file), output, format, False)
