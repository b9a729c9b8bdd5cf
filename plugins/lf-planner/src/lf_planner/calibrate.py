"""Measured runs vs the planner: predictions per run, and ``lf plan calibrate`` (fit the efficiency factors).

The results file (``lf-plan-results/v1``, schema: ``lf plan schema results``) lists serving runs
(TTFT, ITL, output tokens/s) and training runs (tokens/s per GPU, peak memory) with the setup
that produced them. ``predict`` gives the planner's estimate for each measurement with the
current factors; ``calibrate`` fits the factors the measurements inform (log-error least squares,
pure Python) and reports the error before and after. The published-measurements table of the
tests uses the same format.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from lf.errors import ConfigError, DataError
from lf_planner import memory, perf
from lf_planner.architecture import ModelArch, resolve
from lf_planner.config import Efficiency, PosFloat, PosInt
from lf_planner.hardware import Catalog, load_catalog

RESULTS_FORMAT = "lf-plan-results/v1"
EFFICIENCY_FORMAT = "lf-plan-efficiency/v1"


class ModelRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The model of a run: a size, or a directory / config.json / known name."""

    model_size_billions: float | None = None
    model_path: str | None = None


class ServingMeasured(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a serving benchmark measured (any subset)."""

    output_tokens_per_s: Annotated[PosFloat | None, msgspec.Meta(description="Output tokens/s of one replica.")] = None
    ttft_ms: Annotated[PosFloat | None, msgspec.Meta(description="Time to first token, ms.")] = None
    itl_ms: Annotated[PosFloat | None, msgspec.Meta(description="Time between output tokens, ms.")] = None


class ServingRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="serving"):
    """One serving measurement and its setup."""

    name: str = ""
    source: str = ""
    model: ModelRef
    gpu_type: str
    tensor_parallel: Annotated[int, msgspec.Meta(gt=0)] = 1
    precision: Literal["FP32", "FP16", "BF16", "FP8", "INT8", "INT4"] = "BF16"
    kv_cache_precision: Literal["FP32", "FP16", "BF16", "FP8", "INT8"] | None = None
    input_tokens: Annotated[int, msgspec.Meta(gt=0)]
    output_tokens: Annotated[int, msgspec.Meta(gt=0)]
    batch_size: Annotated[
        PosInt | None, msgspec.Meta(description="Concurrent sequences; empty: as many as the KV cache holds.")
    ] = None
    measured: ServingMeasured


class TrainingMeasured(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a training run measured (any subset)."""

    tokens_per_s_per_gpu: PosFloat | None = None
    peak_memory_gb: Annotated[
        PosFloat | None, msgspec.Meta(description="Peak allocated memory per GPU, GB (1e9 B).")
    ] = None


class TrainingRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="training"):
    """One training measurement and its setup."""

    name: str = ""
    source: str = ""
    model: ModelRef
    gpu_type: str
    num_gpus: Annotated[int, msgspec.Meta(gt=0)] = 1
    gpus_per_node: Annotated[int, msgspec.Meta(gt=0)] = 8
    precision: Literal["FP32", "FP16", "BF16", "FP8"] = "BF16"
    base_precision: Literal["FP32", "FP16", "BF16"] = "BF16"
    method: Literal["full", "lora", "qlora"] = "full"
    sequence_length: Annotated[int, msgspec.Meta(gt=0)]
    micro_batch_size: Annotated[int, msgspec.Meta(gt=0)] = 1
    gradient_checkpointing: bool = False
    optimizer: Literal["Adam", "AdamW", "Adam8bit", "Adafactor", "SGD"] = "AdamW"
    master_weights: bool = True
    lora_rank: int = 16
    lora_targets: list[str] = msgspec.field(default_factory=lambda: ["all-linear"])
    zero_stage: Literal[0, 1, 2, 3] = 0
    flash_attention: bool = True
    chunked_loss: bool = False
    measured: TrainingMeasured


class ResultsFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``lf-plan-results/v1``: measured runs."""

    format: Literal["lf-plan-results/v1"] = "lf-plan-results/v1"
    description: str = ""
    runs: list[ServingRun | TrainingRun]


class Comparison(msgspec.Struct, kw_only=True):
    """One measurement against the planner's estimate."""

    run: str
    metric: str
    measured: float
    before: float
    after: float
    error_before_pct: float
    error_after_pct: float


class CalibrationResult(msgspec.Struct, kw_only=True):
    """What ``lf plan calibrate`` writes (pass it back with ``--efficiency``)."""

    format: str = EFFICIENCY_FORMAT
    efficiency: Efficiency
    fitted: list[str]
    not_fitted: list[str]
    mean_abs_error_before_pct: float
    mean_abs_error_after_pct: float
    comparisons: list[Comparison]


def load_results(path: str | Path) -> ResultsFile:
    """Read and validate a results file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {p}: {exc.strerror or exc}.") from exc
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    try:
        return msgspec.json.decode(raw, type=ResultsFile)
    except msgspec.ValidationError as exc:
        raise DataError(
            f"{p}: not a valid {RESULTS_FORMAT} file: {exc}",
            hint="Each run needs kind (serving or training), model, gpu_type, its setup and 'measured' "
            "(see `lf plan schema results`).",
        ) from None


def _arch(ref: ModelRef) -> ModelArch:
    return resolve(ref.model_size_billions, ref.model_path)


def predict(run: ServingRun | TrainingRun, eff: Efficiency, catalog: Catalog) -> dict[str, float]:
    """The planner's estimate for every metric ``run`` measured."""
    arch = _arch(run.model)
    gpu = catalog.gpu(run.gpu_type)
    out: dict[str, float] = {}
    if isinstance(run, TrainingRun):
        m = run.measured
        if m.tokens_per_s_per_gpu is not None:
            dtype, _ = perf.compute_dtype(gpu, run.precision, training=True)
            tps = perf.training_tokens_per_second(
                arch, gpu, eff, dtype=dtype, seq_len=run.sequence_length, method=run.method,
                recompute=run.gradient_checkpointing,
            )  # fmt: skip
            if run.num_gpus > run.gpus_per_node:
                tps *= eff.multi_node_scaling
            out["tokens_per_s_per_gpu"] = tps
        if m.peak_memory_gb is not None:
            mem = memory.training_memory(
                arch,
                method=run.method,
                precision=run.precision,
                base_precision=run.base_precision,
                optimizer=run.optimizer,
                master_weights=run.master_weights,
                micro_batch=run.micro_batch_size,
                seq_len=run.sequence_length,
                checkpointing=run.gradient_checkpointing,
                flash_attention=run.flash_attention,
                zero_stage=run.zero_stage,
                dp=run.num_gpus,
                lora_rank=run.lora_rank,
                targets=memory.lora_targets(run.lora_targets),
                lora_dropout=0.0,
                logits_bytes=eff.loss_logits_bytes,
                chunked_loss=run.chunked_loss,
            )
            out["peak_memory_gb"] = mem.total_gb
        return out
    from lf_planner.config import InferenceConfig, LLMWorkloadInput, ModelConfig
    from lf_planner.inference_replica import ReplicaModel, evaluate

    cfg = InferenceConfig(
        workload=LLMWorkloadInput(
            requests_per_second=1.0, avg_input_tokens=run.input_tokens, avg_output_tokens=run.output_tokens
        ),
        model=ModelConfig(
            model_size_billions=run.model.model_size_billions,
            model_path=run.model.model_path,
            precision=run.precision,
            kv_cache_precision=run.kv_cache_precision,
            context_window=run.input_tokens + run.output_tokens,
            batch_size=run.batch_size,
        ),
        efficiency=eff,
    )
    sm = run.measured
    dtype, _ = perf.compute_dtype(gpu, run.precision)
    model = ReplicaModel(arch, cfg, gpu, run.tensor_parallel, dtype)
    if sm.ttft_ms is not None:
        out["ttft_ms"] = model.ttft_idle * 1000
    if sm.output_tokens_per_s is not None or sm.itl_ms is not None:
        c = evaluate(arch, cfg, gpu, run.tensor_parallel, catalog)
        if not c.fits:
            raise DataError(f"run {run.name or run.gpu_type}: the model does not fit ({c.reason}).")
        if sm.output_tokens_per_s is not None:
            out["output_tokens_per_s"] = c.tps
        if sm.itl_ms is not None:
            out["itl_ms"] = model.itl(c.batch) * 1000
    return out


def measurements(run: ServingRun | TrainingRun) -> dict[str, float]:
    """The measured values of ``run`` by metric."""
    return {k: v for k, v in msgspec.to_builtins(run.measured).items() if v is not None}


def compare(results: ResultsFile, eff: Efficiency, catalog: Catalog) -> list[tuple[str, str, float, float]]:
    """``(run, metric, measured, estimated)`` for every measurement."""
    rows = []
    for i, run in enumerate(results.runs):
        name = run.name or f"run {i + 1}"
        estimates = predict(run, eff, catalog)
        for metric, value in measurements(run).items():
            rows.append((name, metric, value, estimates[metric]))
    return rows


#: Which factors each metric informs, with their bounds.
BOUNDS: dict[str, tuple[float, float]] = {
    "training_mfu": (0.05, 0.95),
    "prefill_mfu": (0.05, 0.95),
    "low_precision_efficiency": (0.2, 1.0),
    "request_overhead_ms": (0.0, 100.0),
    "decode_mbu": (0.1, 1.0),
    "decode_mfu": (0.05, 0.95),
}
INFORMS = {
    "tokens_per_s_per_gpu": ("training_mfu",),
    "ttft_ms": ("prefill_mfu", "low_precision_efficiency", "request_overhead_ms"),
    "output_tokens_per_s": ("decode_mbu", "decode_mfu", "low_precision_efficiency"),
    "itl_ms": ("decode_mbu", "decode_mfu"),
    "peak_memory_gb": (),
}


def _loss(results: ResultsFile, eff: Efficiency, catalog: Catalog, metrics: set[str]) -> float:
    total = 0.0
    for _, metric, measured, estimate in compare(results, eff, catalog):
        if metric in metrics:
            total += math.log(estimate / measured) ** 2
    return total


def _golden(f: Any, lo: float, hi: float, iters: int = 40) -> float:
    """Minimize a unimodal-ish ``f`` on [lo, hi] (golden-section search)."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


def calibrate(results: ResultsFile, eff: Efficiency, catalog: Catalog, sweeps: int = 3) -> CalibrationResult:
    """Fit the factors the measurements inform; keep the others."""
    metrics = {m for run in results.runs for m in measurements(run)}
    has_8bit = any(isinstance(r, ServingRun) and r.precision in ("FP8", "INT8") for r in results.runs)
    has_16bit = any(isinstance(r, ServingRun) and r.precision not in ("FP8", "INT8") for r in results.runs)
    names: list[str] = []
    for metric in sorted(metrics):
        for name in INFORMS.get(metric, ()):
            if name == "low_precision_efficiency" and not has_8bit:
                continue
            if name == "prefill_mfu" and not has_16bit:
                continue
            if name not in names:
                names.append(name)
    fitted = eff
    for _ in range(sweeps if names else 0):
        for name in names:
            lo, hi = BOUNDS[name]
            informed = {m for m in metrics if name in INFORMS.get(m, ())}
            subset = ResultsFile(runs=[run for run in results.runs if informed & set(measurements(run))])

            def objective(
                x: float,
                name: str = name,
                subset: ResultsFile = subset,
                informed: set[str] = informed,
                start: Efficiency = fitted,
            ) -> float:
                return _loss(subset, msgspec.structs.replace(start, **{name: x}), catalog, informed)

            best = _golden(objective, lo, hi, iters=30)
            fitted = msgspec.structs.replace(fitted, **{name: round(best, 3)})
    before = compare(results, eff, catalog)
    after = compare(results, fitted, catalog)
    rows = [
        Comparison(
            run=b[0],
            metric=b[1],
            measured=b[2],
            before=round(b[3], 3),
            after=round(a[3], 3),
            error_before_pct=round((b[3] / b[2] - 1) * 100, 1),
            error_after_pct=round((a[3] / a[2] - 1) * 100, 1),
        )
        for b, a in zip(before, after, strict=True)
    ]

    def mean_abs(key: str) -> float:
        values = [abs(getattr(c, key)) for c in rows]
        return round(sum(values) / len(values), 2) if values else 0.0

    return CalibrationResult(
        efficiency=fitted,
        fitted=names,
        not_fitted=[n for n in BOUNDS if n not in names],
        mean_abs_error_before_pct=mean_abs("error_before_pct"),
        mean_abs_error_after_pct=mean_abs("error_after_pct"),
        comparisons=rows,
    )


def run_calibration(results_path: Path, hardware: Path | None) -> CalibrationResult:
    """``lf plan calibrate``: load, fit, return."""
    results = load_results(results_path)
    if not results.runs:
        raise DataError(f"{results_path} has no runs.", hint="Add at least one serving or training run.")
    catalog = load_catalog(hardware)
    return calibrate(results, Efficiency(), catalog)


def read_efficiency(path: Path) -> dict[str, Any]:
    """Efficiency factors from a calibration output or a plain ``{"training_mfu": ...}`` mapping."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read efficiency file {path}: {exc.strerror or exc}.") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    factors = data.get("efficiency", data) if isinstance(data, dict) else None
    if not isinstance(factors, dict):
        raise ConfigError(
            f"{path}: expected an object of efficiency factors.", hint="Create one with `lf plan calibrate`."
        )
    try:
        msgspec.convert(factors, Efficiency)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: invalid efficiency factors: {exc}") from None
    return factors


def emit_calibration(result: CalibrationResult, output: Path | None, as_json: bool) -> None:
    """Print the comparison table (or JSON) and write the fitted factors."""
    import sys

    from lf.cli.console import info

    text = msgspec.json.format(msgspec.json.encode(result), indent=2).decode() + "\n"
    if as_json:
        sys.stdout.write(text)
    else:
        from rich.table import Table

        from lf.cli.console import console

        table = Table(title="Measured vs planned", title_justify="left", box=None)
        table.add_column("run", no_wrap=True, overflow="ellipsis", max_width=48)
        for col in ("metric", "measured", "before", "err %", "after", "err %"):
            table.add_column(col, justify="left" if col == "metric" else "right", no_wrap=True)
        for c in result.comparisons:
            table.add_row(
                c.run,
                c.metric,
                f"{c.measured:,.4g}",
                f"{c.before:,.4g}",
                f"{c.error_before_pct:+.1f}",
                f"{c.after:,.4g}",
                f"{c.error_after_pct:+.1f}",
            )
        con = console()
        con.print(table)
        eff = msgspec.to_builtins(result.efficiency)
        con.print(
            "[bold]Fitted[/]: "
            + (", ".join(f"{n}={eff[n]:g}" for n in result.fitted) or "nothing (no measurement informs a factor)")
        )
        con.print(f"mean |error|: {result.mean_abs_error_before_pct:.1f}% -> {result.mean_abs_error_after_pct:.1f}%")
    if output is not None:
        from lf_planner.export import write_text as atomic_write_text

        atomic_write_text(output, text)
        info(f"wrote {output}: use it with --efficiency {output} (or LF_PLAN_EFFICIENCY={output})")
