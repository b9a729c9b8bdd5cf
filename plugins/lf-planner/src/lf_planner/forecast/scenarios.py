"""Scenario paths over the forecast horizon, and a cost forecast against a monthly budget."""

from __future__ import annotations

from lf_planner.common import Notes, rounded
from lf_planner.config import ForecastConfig
from lf_planner.forecast.result import BudgetCheck, ForecastPoint, MonthBudget, Scenario


def build_scenarios(pts: list[ForecastPoint], spike: float) -> list[Scenario]:
    """The four scenario paths' peak, mean and total."""
    paths = {
        "baseline": ("P50: the most likely path", [p.p50 for p in pts]),
        "optimistic": ("P10: demand (or cost) at the low end", [p.p10 for p in pts]),
        "pessimistic": ("P90: demand (or cost) at the high end", [p.p90 for p in pts]),
        "spike": (f"P90 x {spike:g}: a traffic spike on top of the high end", [p.p90 * spike for p in pts]),
    }
    return [
        Scenario(
            name=name,  # type: ignore[arg-type]
            description=desc,
            peak=rounded(max(v), 4),
            mean=rounded(sum(v) / len(v), 4),
            total=rounded(sum(v), 2),
        )
        for name, (desc, v) in paths.items()
    ]


def scenario_path(name: str, pts: list[ForecastPoint], spike: float) -> list[float]:
    """The daily values of scenario ``name``."""
    return {
        "baseline": [p.p50 for p in pts],
        "optimistic": [p.p10 for p in pts],
        "pessimistic": [p.p90 for p in pts],
        "spike": [p.p90 * spike for p in pts],
    }[name]


def budget_check(cfg: ForecastConfig, metric: str, pts: list[ForecastPoint], notes: Notes) -> BudgetCheck | None:
    """A cost forecast's selected scenario per 30-day month against the budget (None without either)."""
    if not cfg.monthly_budget or metric != "cost":
        return None
    path = scenario_path(cfg.scenario, pts, cfg.spike_multiplier)
    months = []
    for i in range(0, len(path), 30):
        chunk = path[i : i + 30]
        total = sum(chunk) * 30 / len(chunk)  # a partial last month is scaled to 30 days
        months.append(
            MonthBudget(
                month=i // 30 + 1,
                start=pts[i].date,
                forecast=rounded(total),
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
