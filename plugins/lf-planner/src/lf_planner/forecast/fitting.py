"""Fitting the forecasting model (pure-Python Holt-Winters or statsmodels) and scoring it on the history."""

from __future__ import annotations

import math

from lf.errors import ConfigError
from lf_planner.common import rounded
from lf_planner.forecast import holtwinters as hw
from lf_planner.forecast.result import Backtest, Drift

MIN_BACKTEST_TRAIN = 14


def fit_model(y: list[float], period: int, method: str, iters: int = 200) -> hw.Fit:
    """Fit ``method`` (holt-winters or statsmodels) to the daily values ``y``."""
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
        model = fit_model(y[:o], period, method, iters=120)
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
        coverage_p10_p90=rounded(inside / total, 3) if total else None,
        mape_pct=rounded(sum(ape) / len(ape), 2) if ape else None,
    )


def drift(y: list[float], period: int, method: str, threshold: float) -> Drift:
    """Compare the last week (or season) of actuals with the forecast made just before it."""
    k = max(1, min(period or 7, 7, len(y) // 3))
    if len(y) - k < 3:
        return Drift(flagged=False, deviation_pct=None, threshold_pct=threshold, window_days=k)
    model = fit_model(y[:-k], period, method, iters=150)
    predicted = model.forecast(k)
    actual = y[-k:]
    dev = [abs(a - p) / abs(p) * 100 for a, p in zip(actual, predicted, strict=True) if p]
    mean = sum(dev) / len(dev) if dev else 0.0
    return Drift(flagged=mean > threshold, deviation_pct=rounded(mean, 2), threshold_pct=threshold, window_days=k)
