"""Additive Holt-Winters (ETS(A,Ad,A)) in pure Python, with analytical prediction intervals.

Error-correction form (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 8.3):

    yhat_t = l_{t-1} + phi b_{t-1} + s_{t-m}        e_t = y_t - yhat_t
    l_t = l_{t-1} + phi b_{t-1} + alpha e_t
    b_t = phi b_{t-1} + beta e_t
    s_t = s_{t-m} + gamma e_t

The smoothing parameters minimize the one-step squared errors (Nelder-Mead, deterministic
start). The h-step variance is ``sigma^2 (1 + sum_{j<h} c_j^2)`` with
``c_j = alpha + beta (phi + ... + phi^j) + gamma [j mod m == 0]`` (FPP table 8.8).
With fewer than two seasons of data the seasonal component is dropped (Holt's damped trend).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Z90 = 1.2815515655446004  # standard normal 90th percentile


@dataclass(frozen=True)
class Fit:
    """A fitted model: parameters, final state and residual spread."""

    alpha: float
    beta: float
    gamma: float
    phi: float
    period: int  # 0 = no seasonality
    level: float
    trend: float
    season: tuple[float, ...]
    sigma: float
    n: int

    def forecast(self, horizon: int) -> list[float]:
        """Point forecasts (P50) for steps 1..horizon."""
        out = []
        damp = 0.0
        for h in range(1, horizon + 1):
            damp += self.phi**h
            seasonal = self.season[(self.n + h - 1) % self.period] if self.period else 0.0
            out.append(self.level + damp * self.trend + seasonal)
        return out

    def std(self, horizon: int) -> list[float]:
        """Forecast standard deviation for steps 1..horizon."""
        out = []
        acc = 1.0
        damp = 0.0
        for h in range(1, horizon + 1):
            out.append(self.sigma * math.sqrt(acc))
            damp += self.phi**h
            c = self.alpha + self.beta * damp + (self.gamma if self.period and h % self.period == 0 else 0.0)
            acc += c * c
        return out


def _init(y: list[float], m: int) -> tuple[float, float, list[float]]:
    if m:
        first = sum(y[:m]) / m
        second = sum(y[m : 2 * m]) / m
        trend = (second - first) / m
        season = [y[i] - first for i in range(m)]
        return first, trend, season
    trend = (y[1] - y[0]) if len(y) > 1 else 0.0
    return y[0], trend, []


def _run(y: list[float], alpha: float, beta: float, gamma: float, phi: float, m: int) -> tuple[float, Fit]:
    level, trend, season = _init(y, m)
    season = list(season)
    sse = 0.0
    count = 0
    for t, value in enumerate(y):
        s = season[t % m] if m else 0.0
        pred = level + phi * trend + s
        e = value - pred
        if t >= (m or 1):
            sse += e * e
            count += 1
        level = level + phi * trend + alpha * e
        trend = phi * trend + beta * e
        if m:
            season[t % m] = s + gamma * e
    sigma = math.sqrt(sse / max(count - 3, 1))
    return sse, Fit(alpha, beta, gamma, phi, m, level, trend, tuple(season), sigma, len(y))


def _squash(x: float, lo: float, hi: float) -> float:
    return lo + (hi - lo) / (1 + math.exp(-max(min(x, 30.0), -30.0)))


def _params(v: list[float], seasonal: bool) -> tuple[float, float, float, float]:
    alpha = _squash(v[0], 0.01, 0.99)
    beta = _squash(v[1], 0.0, 0.5) * alpha
    gamma = _squash(v[2], 0.0, 0.99) * (1 - alpha) if seasonal else 0.0
    phi = _squash(v[3], 0.8, 0.98)
    return alpha, beta, gamma, phi


def nelder_mead(f: Callable[[list[float]], float], x0: list[float], iters: int = 200, step: float = 0.8) -> list[float]:
    """Minimize ``f`` from ``x0`` (deterministic simplex; enough for 3-4 smoothing parameters)."""
    n = len(x0)
    simplex = [list(x0)] + [[x0[j] + (step if j == i else 0.0) for j in range(n)] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(iters):
        order = sorted(range(n + 1), key=lambda i: values[i])
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) <= 1e-10 * (abs(values[0]) + 1e-12):
            break
        centroid = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]
        reflect = [centroid[j] + (centroid[j] - worst[j]) for j in range(n)]
        fr = f(reflect)
        if fr < values[0]:
            expand = [centroid[j] + 2 * (centroid[j] - worst[j]) for j in range(n)]
            fe = f(expand)
            simplex[-1], values[-1] = (expand, fe) if fe < fr else (reflect, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflect, fr
        else:
            contract = [centroid[j] + 0.5 * (worst[j] - centroid[j]) for j in range(n)]
            fc = f(contract)
            if fc < values[-1]:
                simplex[-1], values[-1] = contract, fc
            else:
                best = simplex[0]
                simplex = [best] + [[best[j] + 0.5 * (p[j] - best[j]) for j in range(n)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    return simplex[min(range(n + 1), key=lambda i: values[i])]


def fit(y: list[float], period: int, *, iters: int = 200) -> Fit:
    """Fit additive damped Holt-Winters; ``period`` 0 (or too little data) fits Holt's method."""
    if len(y) < 3:
        mean = sum(y) / len(y)
        spread = max(abs(v - mean) for v in y) or abs(mean) * 0.1 or 1.0
        return Fit(0.5, 0.0, 0.0, 0.9, 0, mean, 0.0, (), spread, len(y))
    m = period if period and len(y) >= 2 * period else 0

    def objective(v: list[float]) -> float:
        return _run(y, *_params(v, bool(m)), m)[0]

    best = nelder_mead(objective, [0.0, -1.0, -1.0, 1.0], iters=iters)
    return _run(y, *_params(best, bool(m)), m)[1]


def bands(model: Fit, horizon: int, widen: float = 1.0) -> list[tuple[float, float, float]]:
    """(P10, P50, P90) per step; ``widen`` scales the spread (short history)."""
    out = []
    for mean, sd in zip(model.forecast(horizon), model.std(horizon), strict=True):
        half = Z90 * sd * widen
        out.append((mean - half, mean, mean + half))
    return out
