"""Measured runs vs the planner: predictions per run, and ``lf plan calibrate`` (fit the efficiency factors).

The results file (``lf-plan-results/v1``, schema: ``lf plan schema results``) lists serving runs
(TTFT, ITL, output tokens/s) and training runs (tokens/s per GPU, peak memory) with the setup
that produced them (``calibration_runs``). ``predict`` gives the planner's estimate for each
measurement with the current factors (``calibration_predict``); ``calibrate`` fits the factors the
measurements inform (log-error least squares, pure Python) and reports the error before and after.
The published-measurements table of the tests uses the same format.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import msgspec

from lf.errors import ConfigError, DataError
from lf_planner.calibration_predict import compare, measurements, predict
from lf_planner.calibration_runs import (
    RESULTS_FORMAT,
    ModelRef,
    ResultsFile,
    ServingMeasured,
    ServingRun,
    TrainingMeasured,
    TrainingRun,
    load_results,
)
from lf_planner.config import Efficiency
from lf_planner.hardware import Catalog, load_catalog

__all__ = [
    "EFFICIENCY_FORMAT",
    "RESULTS_FORMAT",
    "CalibrationResult",
    "Comparison",
    "ModelRef",
    "ResultsFile",
    "ServingMeasured",
    "ServingRun",
    "TrainingMeasured",
    "TrainingRun",
    "calibrate",
    "compare",
    "emit_calibration",
    "load_results",
    "measurements",
    "predict",
    "read_efficiency",
    "run_calibration",
]

EFFICIENCY_FORMAT = "lf-plan-efficiency/v1"


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

    from lf.plugin_api import info

    text = msgspec.json.format(msgspec.json.encode(result), indent=2).decode() + "\n"
    if as_json:
        sys.stdout.write(text)
    else:
        from rich.table import Table

        from lf.plugin_api import console

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
