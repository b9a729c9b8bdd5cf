"""Forecasting load and cost from history (``lf plan forecast``): pure Python, statsmodels optional."""
