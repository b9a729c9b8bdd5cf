"""What ``lf plan forecast`` reports (lf-plan-forecast/v1): the result and its parts."""

from __future__ import annotations

from typing import Literal

import msgspec

from lf_planner.plans import Assumption


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
