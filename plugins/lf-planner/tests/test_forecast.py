"""Forecasting: Holt-Winters on known series, bands and their coverage, flags, scenarios, budget, capacity."""

from __future__ import annotations

import json
import math
import random
from datetime import date, timedelta

import pytest

from lf.errors import DataError
from lf.testing import run_cli
from lf_planner.forecast import holtwinters as hw
from lf_planner.forecast.history import daily, load_history
from lf_planner.forecast.run import ForecastRequest, run_forecast


def _write_metric(path, days, value, metric="rps", per_day=4):
    lines = ["timestamp,metric,value"]
    start = date(2025, 1, 1)
    for d in range(days):
        for h in range(per_day):
            lines.append(
                f"{(start + timedelta(days=d)).isoformat()}T{h * 24 // per_day:02d}:00:00Z,{metric},{value(d, h):.4f}"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def _weekly(seed=3, noise=0.4):
    rng = random.Random(seed)
    return lambda d, h: 20 + 0.1 * d + 4 * math.sin(2 * math.pi * d / 7) + rng.gauss(0, noise)


def test_holt_winters_recovers_trend_and_season():
    y = [50 + 0.5 * t + 10 * math.sin(2 * math.pi * t / 7) for t in range(84)]
    model = hw.fit(y, 7)
    assert model.period == 7
    expected = [50 + 0.5 * t + 10 * math.sin(2 * math.pi * t / 7) for t in range(84, 98)]
    for got, want in zip(model.forecast(14), expected, strict=True):
        assert got == pytest.approx(want, abs=2.0)
    stds = model.std(14)
    assert stds == sorted(stds)  # uncertainty grows with the horizon


def test_forecast_bands_cover_about_80_percent_in_the_backtest(tmp_path):
    history = _write_metric(tmp_path / "rps.csv", 120, _weekly())
    result = run_forecast(ForecastRequest(history=history, metric="rps", horizon_days=30))
    assert result.seasonality_used and not result.short_history
    assert len(result.forecast) == 30
    assert all(p.p10 <= p.p50 <= p.p90 for p in result.forecast)
    assert result.backtest.origins >= 5
    assert 0.6 <= result.backtest.coverage_p10_p90 <= 0.97
    assert result.backtest.mape_pct < 10
    assert not result.drift.flagged
    names = [s.name for s in result.scenarios]
    peaks = {s.name: s.peak for s in result.scenarios}
    assert names == ["baseline", "optimistic", "pessimistic", "spike"]
    assert peaks["optimistic"] <= peaks["baseline"] <= peaks["pessimistic"] < peaks["spike"]
    assert result.peak_p90 == peaks["pessimistic"]


def test_short_history_drops_seasonality_and_widens_bands(tmp_path):
    history = _write_metric(tmp_path / "rps.csv", 10, _weekly())
    result = run_forecast(ForecastRequest(history=history, horizon_days=7))
    assert result.short_history and not result.seasonality_used and result.band_widening > 1
    assert any("Short history" in w for w in result.warnings)


def test_drift_beyond_the_threshold_is_flagged(tmp_path):
    base = _weekly(noise=0.2)
    history = _write_metric(tmp_path / "rps.csv", 60, lambda d, h: base(d, h) * (1.6 if d >= 53 else 1.0))
    result = run_forecast(ForecastRequest(history=history, variance_threshold=10))
    assert result.drift.flagged and result.drift.deviation_pct > 10
    assert any("Drift" in w for w in result.warnings)


def test_cost_history_against_a_budget_and_horizon_in_months(tmp_path):
    lines = ["timestamp,amount,category,currency,tokens_processed"]
    for d in range(60):
        day = (date(2025, 3, 1) + timedelta(days=d)).isoformat()
        lines += [f"{day},{300 + 3 * d},gpu_compute,USD,1000000", f"{day},20,storage,USD,"]
    (tmp_path / "cost.csv").write_text("\n".join(lines) + "\n")
    result = run_forecast(ForecastRequest(history=tmp_path / "cost.csv", horizon_months=3, budget=15000))
    assert result.metric == "cost" and len(result.forecast) == 90
    assert result.budget is not None and [m.month for m in result.budget.months] == [1, 2, 3]
    assert result.budget.over_budget and result.budget.first_month_over == 1  # ~500 USD/day > 15000/month
    generous = run_forecast(ForecastRequest(history=tmp_path / "cost.csv", horizon_months=1, budget=1e6))
    assert generous.budget is not None and not generous.budget.over_budget


def test_capacity_is_sized_on_the_peak_p90(tmp_path):
    history = _write_metric(tmp_path / "rps.csv", 60, _weekly())
    config = tmp_path / "inference.json"
    config.write_text(
        json.dumps(
            {
                "mode": "inference",
                "workload": {"requests_per_second": 1, "avg_input_tokens": 500, "avg_output_tokens": 200},
                "model": {"model_size_billions": 8, "precision": "BF16"},
                "gpu": {"gpu_type": "H100-80GB"},
            }
        )
    )
    result = run_forecast(ForecastRequest(history=history, plan_config=config))
    assert result.capacity is not None
    assert result.capacity.sized_for_rps == pytest.approx(result.peak_p90, rel=1e-3)
    assert result.capacity.max_replicas >= result.capacity.min_replicas


def test_json_history_and_errors_that_point_at_the_line(tmp_path):
    records = [
        {"timestamp": f"2025-01-{d + 1:02d}", "metric_name": "tps", "value": 100 + d, "unit": "tokens/sec"}
        for d in range(20)
    ]
    (tmp_path / "h.json").write_text(json.dumps({"metrics": records}))
    history = load_history(tmp_path / "h.json")
    assert len(history.metrics["tps"]) == 20
    (tmp_path / "bad.csv").write_text("timestamp,metric,value\n2025-01-01,rps,1\n2025-01-02,rps,lots\n")
    with pytest.raises(DataError, match=r"bad.csv:3: value must be a number"):
        load_history(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("timestamp,metric,value\nyesterday,rps,1\n")
    with pytest.raises(DataError, match=r"bad2.csv:2: cannot read the timestamp"):
        load_history(tmp_path / "bad2.csv")


def test_missing_days_are_interpolated():
    from datetime import datetime, timezone

    readings = [(datetime(2025, 1, 1, tzinfo=timezone.utc), 10.0), (datetime(2025, 1, 4, tzinfo=timezone.utc), 40.0)]
    series = daily(readings, "max")
    assert series.values == [10.0, 20.0, 30.0, 40.0] and series.gaps == 2


def test_forecast_cli_writes_every_format(tmp_path):
    history = _write_metric(tmp_path / "rps.csv", 30, _weekly())
    for name in ("f.json", "f.csv", "f.html"):
        out = run_cli("plan", "forecast", str(history), "--horizon-days", "14", "--output", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "f.json").read_text())["format"] == "lf-plan-forecast/v1"
    assert (tmp_path / "f.csv").read_text().splitlines()[0] == "date,actual,p10,p50,p90"
    assert "<svg" in (tmp_path / "f.html").read_text()
    missing = run_cli("plan", "forecast", str(history), "--metric", "itl_ms")
    assert missing.returncode == 4 and "no 'itl_ms' readings" in missing.stderr


def test_statsmodels_is_optional(tmp_path):
    history = _write_metric(tmp_path / "rps.csv", 30, _weekly())
    try:
        import statsmodels  # noqa: F401
    except ImportError:
        out = run_cli("plan", "forecast", str(history), "--method", "statsmodels")
        assert out.returncode == 6 and "pip install" in out.stderr
    else:  # pragma: no cover - only where the optional extra is installed
        result = run_forecast(ForecastRequest(history=history, method="statsmodels"))
        assert len(result.forecast) == 30
