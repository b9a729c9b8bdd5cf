"""A serving plan sized for a requests-per-second forecast (``--plan-config``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lf.errors import ConfigError
from lf_planner.common import Notes, rounded
from lf_planner.config import ForecastConfig
from lf_planner.forecast.result import Capacity, ForecastPoint
from lf_planner.forecast.scenarios import scenario_path

if TYPE_CHECKING:
    from lf_planner.forecast.run import ForecastRequest


def serving_capacity(
    req: ForecastRequest,
    cfg: ForecastConfig,
    metric: str,
    pts: list[ForecastPoint],
    notes: Notes,
) -> Capacity | None:
    """The serving plan of ``--plan-config`` sized for the forecast peak (None without one)."""
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
        max(scenario_path(cfg.scenario, pts, cfg.spike_multiplier))
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
        sized_for_rps=rounded(sized, 4),
        average_rps=rounded(average, 4),
        recommended_gpu_type=g.recommended_gpu_type,
        gpus_per_replica=g.min_gpus_per_replica,
        min_replicas=g.min_replicas,
        max_replicas=g.max_replicas,
        total_gpus=g.total_gpus,
        monthly_total_cost=plan.cost.monthly_total_cost if plan.cost else None,
    )
