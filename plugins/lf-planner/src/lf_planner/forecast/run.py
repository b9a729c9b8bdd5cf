"""``lf plan forecast``: history -> Holt-Winters bands -> backtest, drift, scenarios, budget, capacity.

The work is split by job: ``result`` holds what is reported, ``fitting`` fits and scores the model,
``scenarios`` derives the scenario paths and the budget check, ``capacity`` sizes a serving plan
for the forecast; this module reads the request and puts the result together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lf.errors import DataError
from lf_planner.common import Notes, rounded
from lf_planner.config import ForecastConfig
from lf_planner.forecast import holtwinters as hw
from lf_planner.forecast.capacity import serving_capacity
from lf_planner.forecast.fitting import MIN_BACKTEST_TRAIN, backtest, drift, fit_model
from lf_planner.forecast.history import UNITS, Daily, History, daily, load_history
from lf_planner.forecast.result import (
    Backtest,
    BudgetCheck,
    Capacity,
    Drift,
    ForecastPoint,
    ForecastResult,
    MonthBudget,
    Scenario,
)
from lf_planner.forecast.scenarios import budget_check, build_scenarios

__all__ = [
    "MIN_BACKTEST_TRAIN",
    "SHORT_HISTORY_WIDEN",
    "Backtest",
    "BudgetCheck",
    "Capacity",
    "Drift",
    "ForecastPoint",
    "ForecastRequest",
    "ForecastResult",
    "MonthBudget",
    "Scenario",
    "backtest",
    "drift",
    "run_forecast",
]

SHORT_HISTORY_WIDEN = 1.5


@dataclass
class ForecastRequest:
    """The command-line inputs of ``lf plan forecast``."""

    history: Path
    metric: str | None = None
    horizon_days: int | None = None
    horizon_months: int | None = None
    seasonal_period: int | None = None
    scenario: str | None = None
    variance_threshold: float | None = None
    spike_multiplier: float | None = None
    budget: float | None = None
    aggregate: str = "max"
    method: str = "holt-winters"
    plan_config: Path | None = None


def _config(req: ForecastRequest) -> ForecastConfig:
    """The forecast settings the command line gave, validated (defaults for the rest)."""
    from lf.config import convert

    data = {
        k: v
        for k, v in {
            "horizon_days": req.horizon_days,
            "horizon_months": req.horizon_months,
            "seasonal_period": req.seasonal_period,
            "scenario": req.scenario.lower() if req.scenario else None,
            "variance_threshold_pct": req.variance_threshold,
            "spike_multiplier": req.spike_multiplier,
            "monthly_budget": req.budget,
        }.items()
        if v is not None
    }
    return convert(data, ForecastConfig, source="the command line")


def _daily_series(req: ForecastRequest, history: History, notes: Notes) -> tuple[str, str, Daily]:
    """The metric to forecast, how readings become daily values, and the daily series."""
    metric = (req.metric or "").strip().lower() or None
    if metric == "cost" or (metric is None and not history.metrics):
        if not history.costs:
            raise DataError(f"{req.history} has no cost records.", hint="Cost rows: timestamp,amount,category.")
        readings = [x for rows in history.costs.values() for x in rows]
        metric, aggregate = "cost", "sum"
        notes.add(
            ["history"], "Cost history: every category summed per day (" + ", ".join(sorted(history.costs)) + ")."
        )
    else:
        if metric is None:
            metric = next(m for m in ("rps", "tps", "ttft_ms", "itl_ms", "gpu_utilization") if m in history.metrics)
        if metric not in history.metrics:
            raise DataError(
                f"{req.history} has no '{metric}' readings.",
                hint="It has: " + ", ".join(sorted(history.metrics) + (["cost"] if history.costs else [])) + ".",
            )
        readings = history.metrics[metric]
        aggregate = req.aggregate
    series = daily(readings, aggregate)
    if len(series.values) < 3:
        raise DataError(
            f"{req.history}: only {len(series.values)} day(s) of '{metric}' history.",
            hint="Forecasting needs at least 3 days; two seasons (14 days for a weekly pattern) for seasonality.",
        )
    return metric, aggregate, series


def _warn_thin_history(notes: Notes, series: Daily, period: int, widen: float) -> None:
    """Warn when the history is shorter than two seasons, and when days were interpolated."""
    days = len(series.values)
    if days < 2 * period:
        notes.warn(
            f"Short history: {days} days is less than two seasons ({2 * period} days): seasonality dropped and the "
            f"P10-P90 band widened x{widen}."
        )
    if series.gaps:
        notes.warn(f"{series.gaps} missing day(s) were filled by linear interpolation.")


def _forecast_points(model: hw.Fit, series: Daily, horizon: int, widen: float) -> list[ForecastPoint]:
    """P10/P50/P90 per forecast day (clipped at zero when the history never goes below it)."""
    y = series.values
    nonneg = min(y) >= 0
    pts = []
    for i, (lo, mid, hi) in enumerate(hw.bands(model, horizon, widen)):
        if nonneg:
            lo, mid, hi = max(lo, 0.0), max(mid, 0.0), max(hi, 0.0)
        pts.append(
            ForecastPoint(
                date=series.day(len(y) + i).isoformat(), p10=rounded(lo, 4), p50=rounded(mid, 4), p90=rounded(hi, 4)
            )
        )
    return pts


def _warn_unreliable(notes: Notes, bt: Backtest, dr: Drift) -> None:
    """Warn on drift past the threshold, and on a backtest band coverage far from 80%."""
    if dr.flagged:
        notes.warn(
            f"Drift: the last {dr.window_days} days differ from the forecast made before them by {dr.deviation_pct:g}% "
            f"(threshold {dr.threshold_pct:g}%): re-plan or refit."
        )
    if bt.coverage_p10_p90 is not None and abs(bt.coverage_p10_p90 - 0.8) > 0.15:
        notes.warn(
            f"The P10-P90 band covered {bt.coverage_p10_p90:.0%} of backtest actuals (80% expected): "
            "treat it with care."
        )


def _describe_method(
    notes: Notes, cfg: ForecastConfig, model: hw.Fit, days: int, aggregate: str, widen: float | None, bt: Backtest
) -> None:
    """The model, the backtest and the scenarios, as assumptions (``widen`` None: bands not widened)."""
    period = cfg.seasonal_period
    notes.add(
        ["forecast"],
        f"Additive Holt-Winters (ETS(A,Ad,A), damped trend) fitted by least squares on {days} daily values "
        f"({aggregate} per day)"
        + (f", weekly-type season of {period} days" if model.period else ", no seasonal component")
        + "; P10/P90 = P50 -+ 1.2816 sigma_h (normal errors, analytical h-step variance)"
        + (f", widened x{widen}" if widen is not None else "")
        + ".",
    )
    notes.add(
        ["backtest"],
        f"Rolling-origin backtest: refit at {bt.origins} origins, {bt.horizon_days}-day forecasts, "
        "share of actuals inside P10-P90.",
    )
    notes.add(
        ["scenarios"],
        f"Scenarios: baseline = P50, optimistic = P10, pessimistic = P90, spike = P90 x {cfg.spike_multiplier:g}.",
    )


def _budget_against_capacity(
    notes: Notes, cfg: ForecastConfig, budget: BudgetCheck | None, capacity: Capacity | None, start: str
) -> BudgetCheck | None:
    """Without a cost history, check the budget against the sized serving plan's monthly cost."""
    if capacity is not None and cfg.monthly_budget and capacity.monthly_total_cost is not None and budget is None:
        over = capacity.monthly_total_cost > cfg.monthly_budget
        return BudgetCheck(
            monthly_budget=cfg.monthly_budget,
            scenario=cfg.scenario,
            basis="serving plan sized for the forecast peak (monthly total cost)",
            months=[
                MonthBudget(
                    month=1, start=start, forecast=capacity.monthly_total_cost, budget=cfg.monthly_budget, over=over
                )
            ],
            over_budget=over,
            first_month_over=1 if over else None,
        )
    if cfg.monthly_budget and budget is None:
        notes.warn(
            "A budget was given but there is no cost to compare: forecast a cost history, "
            "or pass --plan-config with include_cost."
        )
    return budget


def run_forecast(req: ForecastRequest) -> ForecastResult:
    """Forecast one metric (or cost) of a history file."""
    cfg = _config(req)
    notes = Notes()
    metric, aggregate, series = _daily_series(req, load_history(req.history), notes)
    y = series.values
    period = cfg.seasonal_period
    horizon = cfg.horizon_months * 30 if cfg.horizon_months else cfg.horizon_days
    model = fit_model(y, period, req.method)
    short = len(y) < 2 * period
    widen = SHORT_HISTORY_WIDEN if short else 1.0
    _warn_thin_history(notes, series, period, widen)
    pts = _forecast_points(model, series, horizon, widen)
    peak_i = max(range(len(pts)), key=lambda i: pts[i].p90)
    bt = backtest(y, period, horizon, req.method, widen)
    dr = drift(y, period, req.method, cfg.variance_threshold_pct)
    _warn_unreliable(notes, bt, dr)
    scenarios = build_scenarios(pts, cfg.spike_multiplier)
    _describe_method(notes, cfg, model, len(y), aggregate, widen if short else None, bt)
    budget = budget_check(cfg, metric, pts, notes)
    capacity = serving_capacity(req, cfg, metric, pts, notes)
    budget = _budget_against_capacity(notes, cfg, budget, capacity, pts[0].date)
    return ForecastResult(
        metric=metric,
        unit=UNITS.get(metric, ""),
        aggregate=aggregate,
        method=req.method,
        history_days=len(y),
        history_start=series.start.isoformat(),
        history_end=series.day(len(y) - 1).isoformat(),
        interpolated_days=series.gaps,
        seasonal_period=period,
        seasonality_used=bool(model.period),
        short_history=short,
        band_widening=widen,
        parameters={
            "alpha": rounded(model.alpha, 4),
            "beta": rounded(model.beta, 4),
            "gamma": rounded(model.gamma, 4),
            "phi": rounded(model.phi, 4),
            "sigma": rounded(model.sigma, 4),
        },
        forecast=pts,
        peak_p90=pts[peak_i].p90,
        peak_p90_date=pts[peak_i].date,
        backtest=bt,
        drift=dr,
        scenarios=scenarios,
        selected_scenario=cfg.scenario,
        budget=budget,
        capacity=capacity,
        history=[rounded(v, 4) for v in y],
        assumptions=notes.assumptions,
        warnings=notes.warnings,
    )
