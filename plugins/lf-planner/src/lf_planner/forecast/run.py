"""``lf plan forecast``: history -> Holt-Winters bands -> backtest, drift, scenarios, budget, capacity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from lf.errors import ConfigError, DataError
from lf_planner.common import Notes, r
from lf_planner.config import ForecastConfig
from lf_planner.forecast import holtwinters as hw
from lf_planner.forecast.history import UNITS, Daily, daily, load_history
from lf_planner.plans import Assumption

SHORT_HISTORY_WIDEN = 1.5
MIN_BACKTEST_TRAIN = 14


class ForecastPoint(msgspec.Struct, kw_only=True):
    """One forecast day."""

    date: str
    p10: float
    p50: float
    p90: float


class Backtest(msgspec.Struct, kw_only=True):
    """Rolling-origin evaluation of the method on this history."""

    origins: int
    horizon_days: int
    coverage_p10_p90: float | None
    target_coverage: float = 0.8
    mape_pct: float | None


class Drift(msgspec.Struct, kw_only=True):
    """Recent actuals vs the forecast made before them."""

    flagged: bool
    deviation_pct: float | None
    threshold_pct: float
    window_days: int


class Scenario(msgspec.Struct, kw_only=True):
    """A path over the horizon."""

    name: Literal["baseline", "optimistic", "pessimistic", "spike"]
    description: str
    peak: float
    mean: float
    total: float


class MonthBudget(msgspec.Struct, kw_only=True):
    """Forecast spend of one (30-day) month against the budget."""

    month: int
    start: str
    forecast: float
    budget: float
    over: bool


class BudgetCheck(msgspec.Struct, kw_only=True):
    """The forecast against a monthly budget."""

    monthly_budget: float
    scenario: str
    basis: str
    months: list[MonthBudget]
    over_budget: bool
    first_month_over: int | None


class Capacity(msgspec.Struct, kw_only=True):
    """The serving plan sized for the forecast."""

    sized_for_rps: float
    average_rps: float
    recommended_gpu_type: str
    gpus_per_replica: int
    min_replicas: int
    max_replicas: int
    total_gpus: int
    monthly_total_cost: float | None


class ForecastResult(msgspec.Struct, kw_only=True):
    """What ``lf plan forecast`` reports."""

    format: str = "lf-plan-forecast/v1"
    metric: str
    unit: str
    aggregate: str
    method: str
    history_days: int
    history_start: str
    history_end: str
    interpolated_days: int
    seasonal_period: int
    seasonality_used: bool
    short_history: bool
    band_widening: float
    parameters: dict[str, float]
    forecast: list[ForecastPoint]
    peak_p90: float
    peak_p90_date: str
    backtest: Backtest
    drift: Drift
    scenarios: list[Scenario]
    selected_scenario: str
    budget: BudgetCheck | None
    capacity: Capacity | None
    history: list[float]
    assumptions: list[Assumption]
    warnings: list[str]


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


def _fit(y: list[float], period: int, method: str, iters: int = 200) -> hw.Fit:
    if method == "statsmodels":
        return _fit_statsmodels(y, period)
    if method != "holt-winters":
        raise ConfigError(f"Unknown forecasting method '{method}'.", hint="Use holt-winters or statsmodels.")
    return hw.fit(y, period, iters=iters)


def _fit_statsmodels(y: list[float], period: int) -> hw.Fit:
    """Statsmodels' ExponentialSmoothing, mapped onto the same state (optional extra)."""
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError:
        from lf.errors import missing_dependency

        raise missing_dependency(
            "statsmodels", "Forecasting with --method statsmodels", "lf-planner[statsmodels]"
        ) from None
    m = period if len(y) >= 2 * period else 0
    model = ExponentialSmoothing(
        y, trend="add", damped_trend=True, seasonal="add" if m else None, seasonal_periods=m or None
    )
    res = model.fit()
    p = res.params
    alpha, beta_star = float(p["smoothing_level"]), float(p.get("smoothing_trend", 0.0) or 0.0)
    gamma = float(p.get("smoothing_seasonal", 0.0) or 0.0) if m else 0.0
    phi = float(p.get("damping_trend", 1.0) or 1.0)
    resid = [a - b for a, b in zip(y, res.fittedvalues, strict=True)]
    sigma = math.sqrt(sum(e * e for e in resid[m or 1 :]) / max(len(resid) - (m or 1) - 3, 1))
    season = tuple(float(s) for s in res.season[-m:]) if m else ()
    # Align the seasonal state so that Fit.forecast indexes it like the pure-Python state.
    if m:
        season = tuple(season[(i - len(y)) % m] for i in range(m))
    return hw.Fit(
        alpha, beta_star * alpha, gamma, phi, m, float(res.level[-1]), float(res.trend[-1]), season, sigma, len(y)
    )


def backtest(y: list[float], period: int, horizon: int, method: str, widen: float) -> Backtest:
    """Rolling-origin evaluation: refit at up to 8 origins, forecast ``horizon`` days, score the bands."""
    n = len(y)
    h = max(1, min(horizon, 14, n // 4))
    first = max(MIN_BACKTEST_TRAIN, 2 * period if n >= 3 * period else 7)
    last = n - h
    if last < first:
        return Backtest(origins=0, horizon_days=h, coverage_p10_p90=None, mape_pct=None)
    count = min(8, last - first + 1)
    step = max(1, (last - first) // max(count - 1, 1))
    origins = sorted({min(first + i * step, last) for i in range(count)})
    inside = total = 0
    ape: list[float] = []
    for o in origins:
        model = _fit(y[:o], period, method, iters=120)
        short = not model.period and period > 0
        for i, (lo, mid, hi) in enumerate(hw.bands(model, h, widen if short else 1.0)):
            actual = y[o + i]
            total += 1
            inside += lo <= actual <= hi
            if actual:
                ape.append(abs(mid - actual) / abs(actual) * 100)
    return Backtest(
        origins=len(origins),
        horizon_days=h,
        coverage_p10_p90=r(inside / total, 3) if total else None,
        mape_pct=r(sum(ape) / len(ape), 2) if ape else None,
    )


def drift(y: list[float], period: int, method: str, threshold: float) -> Drift:
    """Compare the last week (or season) of actuals with the forecast made just before it."""
    k = max(1, min(period or 7, 7, len(y) // 3))
    if len(y) - k < 3:
        return Drift(flagged=False, deviation_pct=None, threshold_pct=threshold, window_days=k)
    model = _fit(y[:-k], period, method, iters=150)
    predicted = model.forecast(k)
    actual = y[-k:]
    dev = [abs(a - p) / abs(p) * 100 for a, p in zip(actual, predicted, strict=True) if p]
    mean = sum(dev) / len(dev) if dev else 0.0
    return Drift(flagged=mean > threshold, deviation_pct=r(mean, 2), threshold_pct=threshold, window_days=k)


def run_forecast(req: ForecastRequest) -> ForecastResult:
    """Forecast one metric (or cost) of a history file."""
    cfg = _config(req)
    history = load_history(req.history)
    notes = Notes()
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
    series: Daily = daily(readings, aggregate)
    y = series.values
    if len(y) < 3:
        raise DataError(
            f"{req.history}: only {len(y)} day(s) of '{metric}' history.",
            hint="Forecasting needs at least 3 days; two seasons (14 days for a weekly pattern) for seasonality.",
        )
    period = cfg.seasonal_period
    horizon = cfg.horizon_months * 30 if cfg.horizon_months else cfg.horizon_days
    model = _fit(y, period, req.method)
    short = len(y) < 2 * period
    widen = SHORT_HISTORY_WIDEN if short else 1.0
    if short:
        notes.warn(
            f"Short history: {len(y)} days is less than two seasons ({2 * period} days): seasonality dropped and the "
            f"P10-P90 band widened x{widen}."
        )
    if series.gaps:
        notes.warn(f"{series.gaps} missing day(s) were filled by linear interpolation.")
    nonneg = min(y) >= 0
    pts = []
    for i, (lo, mid, hi) in enumerate(hw.bands(model, horizon, widen)):
        if nonneg:
            lo, mid, hi = max(lo, 0.0), max(mid, 0.0), max(hi, 0.0)
        pts.append(ForecastPoint(date=series.day(len(y) + i).isoformat(), p10=r(lo, 4), p50=r(mid, 4), p90=r(hi, 4)))
    peak_i = max(range(len(pts)), key=lambda i: pts[i].p90)
    bt = backtest(y, period, horizon, req.method, widen)
    dr = drift(y, period, req.method, cfg.variance_threshold_pct)
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
    scenarios = _scenarios(pts, cfg.spike_multiplier)
    notes.add(
        ["forecast"],
        f"Additive Holt-Winters (ETS(A,Ad,A), damped trend) fitted by least squares on {len(y)} daily values "
        f"({aggregate} per day)"
        + (f", weekly-type season of {period} days" if model.period else ", no seasonal component")
        + "; P10/P90 = P50 -+ 1.2816 sigma_h (normal errors, analytical h-step variance)"
        + (f", widened x{widen}" if short else "")
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
    budget = _budget(cfg, metric, pts, notes)
    capacity = _capacity(req, cfg, metric, pts, notes)
    if capacity is not None and cfg.monthly_budget and capacity.monthly_total_cost is not None and budget is None:
        over = capacity.monthly_total_cost > cfg.monthly_budget
        budget = BudgetCheck(
            monthly_budget=cfg.monthly_budget,
            scenario=cfg.scenario,
            basis="serving plan sized for the forecast peak (monthly total cost)",
            months=[
                MonthBudget(
                    month=1,
                    start=pts[0].date,
                    forecast=capacity.monthly_total_cost,
                    budget=cfg.monthly_budget,
                    over=over,
                )
            ],
            over_budget=over,
            first_month_over=1 if over else None,
        )
    elif cfg.monthly_budget and budget is None:
        notes.warn(
            "A budget was given but there is no cost to compare: forecast a cost history, "
            "or pass --plan-config with include_cost."
        )
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
            "alpha": r(model.alpha, 4),
            "beta": r(model.beta, 4),
            "gamma": r(model.gamma, 4),
            "phi": r(model.phi, 4),
            "sigma": r(model.sigma, 4),
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
        history=[r(v, 4) for v in y],
        assumptions=notes.assumptions,
        warnings=notes.warnings,
    )


def _scenarios(pts: list[ForecastPoint], spike: float) -> list[Scenario]:
    paths = {
        "baseline": ("P50: the most likely path", [p.p50 for p in pts]),
        "optimistic": ("P10: demand (or cost) at the low end", [p.p10 for p in pts]),
        "pessimistic": ("P90: demand (or cost) at the high end", [p.p90 for p in pts]),
        "spike": (f"P90 x {spike:g}: a traffic spike on top of the high end", [p.p90 * spike for p in pts]),
    }
    return [
        Scenario(name=name, description=desc, peak=r(max(v), 4), mean=r(sum(v) / len(v), 4), total=r(sum(v), 2))  # type: ignore[arg-type]
        for name, (desc, v) in paths.items()
    ]


def _scenario_path(name: str, pts: list[ForecastPoint], spike: float) -> list[float]:
    return {
        "baseline": [p.p50 for p in pts],
        "optimistic": [p.p10 for p in pts],
        "pessimistic": [p.p90 for p in pts],
        "spike": [p.p90 * spike for p in pts],
    }[name]


def _budget(cfg: ForecastConfig, metric: str, pts: list[ForecastPoint], notes: Notes) -> BudgetCheck | None:
    if not cfg.monthly_budget or metric != "cost":
        return None
    path = _scenario_path(cfg.scenario, pts, cfg.spike_multiplier)
    months = []
    for i in range(0, len(path), 30):
        chunk = path[i : i + 30]
        total = sum(chunk) * 30 / len(chunk)  # a partial last month is scaled to 30 days
        months.append(
            MonthBudget(
                month=i // 30 + 1,
                start=pts[i].date,
                forecast=r(total),
                budget=cfg.monthly_budget,
                over=total > cfg.monthly_budget,
            )
        )
    first = next((m.month for m in months if m.over), None)
    notes.add(
        ["budget"],
        f"Budget: the {cfg.scenario} scenario's daily cost summed per 30-day month "
        "(a partial month scaled to 30 days).",
    )
    return BudgetCheck(
        monthly_budget=cfg.monthly_budget,
        scenario=cfg.scenario,
        basis="forecast cost history",
        months=months,
        over_budget=first is not None,
        first_month_over=first,
    )


def _capacity(
    req: ForecastRequest,
    cfg: ForecastConfig,
    metric: str,
    pts: list[ForecastPoint],
    notes: Notes,
) -> Capacity | None:
    if req.plan_config is None:
        return None
    if metric != "rps":
        raise ConfigError(
            f"--plan-config sizes serving capacity from a requests-per-second forecast, not '{metric}'.",
            hint="Use --metric rps with --plan-config.",
        )
    from lf_planner.config import InferenceConfig
    from lf_planner.configfile import build
    from lf_planner.engine import LLMForecastEngine
    from lf_planner.plans import LLMCapacityPlan

    sized = (
        max(_scenario_path(cfg.scenario, pts, cfg.spike_multiplier))
        if cfg.scenario != "baseline"
        else max(p.p90 for p in pts)
    )
    average = max(sum(p.p50 for p in pts) / len(pts), 1e-6)
    multiplier = min(max(sized / average, 1.0), 10.0)
    flags = {"rps": average, "peak_multiplier": multiplier, "growth_rate": 0.0}
    plan_cfg = build(InferenceConfig, req.plan_config, flags)
    plan = LLMForecastEngine(hardware_file=plan_cfg.options.hardware_file).plan(plan_cfg)
    assert isinstance(plan, LLMCapacityPlan)
    notes.add(
        ["capacity"],
        f"Capacity sized on the forecast peak's P90 ({sized:,.3g} rps"
        + (f", {cfg.scenario} scenario" if cfg.scenario != "baseline" else "")
        + f") with min replicas for the mean P50 ({average:,.3g} rps), using {req.plan_config}"
        + (" (peak/mean capped at 10x)" if sized / average > 10 else "")
        + ".",
    )
    g = plan.gpu_resources
    return Capacity(
        sized_for_rps=r(sized, 4),
        average_rps=r(average, 4),
        recommended_gpu_type=g.recommended_gpu_type,
        gpus_per_replica=g.min_gpus_per_replica,
        min_replicas=g.min_replicas,
        max_replicas=g.max_replicas,
        total_gpus=g.total_gpus,
        monthly_total_cost=plan.cost.monthly_total_cost if plan.cost else None,
    )
