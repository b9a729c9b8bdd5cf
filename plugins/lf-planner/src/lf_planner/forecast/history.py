"""Reading history: metric readings (timestamp, metric, value) and cost records (timestamp, amount, category).

CSV with a header, or JSON (a list of objects, or ``{"metrics": [...], "costs": [...]}``), in the
requirements' ``LLMUsageMetric`` / ``CostHistory`` shapes. Readings are turned into one value per
UTC day (max, mean or sum); missing days are interpolated and counted.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lf.errors import DataError

METRICS = ("rps", "tps", "ttft_ms", "itl_ms", "gpu_utilization")
UNITS = {
    "rps": "requests/s",
    "tps": "tokens/s",
    "ttft_ms": "ms",
    "itl_ms": "ms",
    "gpu_utilization": "percent",
    "cost": "USD/day",
}


@dataclass
class History:
    """Readings per metric and cost records per category, as read."""

    metrics: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    costs: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    tokens: list[tuple[datetime, float]] = field(default_factory=list)
    currency: str = "USD"


def parse_time(value: Any, where: str) -> datetime:
    """ISO 8601 (``2025-01-31``, ``2025-01-31T12:00:00Z``) or Unix seconds, as UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    text = str(value).strip()
    if not text:
        raise DataError(
            f"{where}: the timestamp is empty.", hint="Use ISO 8601 (2025-01-31T12:00:00Z) or Unix seconds."
        )
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise DataError(
            f"{where}: cannot read the timestamp {text!r}.",
            hint="Use ISO 8601 (2025-01-31 or 2025-01-31T12:00:00Z) or Unix seconds.",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _number(value: Any, where: str, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {name} must be a number, found {value!r}.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise DataError(f"{where}: {name} must be a finite number, found {value!r}.")
    return number


def _add(history: History, record: dict[str, Any], where: str) -> None:
    keys = {str(k).strip().lower(): v for k, v in record.items()}
    if "timestamp" not in keys:
        raise DataError(
            f"{where}: no 'timestamp'.", hint="Each record needs timestamp plus metric+value or amount+category."
        )
    when = parse_time(keys["timestamp"], where)
    if "amount" in keys:
        category = str(keys.get("category") or "gpu_compute").strip().lower()
        history.costs.setdefault(category, []).append((when, _number(keys["amount"], where, "amount")))
        if keys.get("currency"):
            history.currency = str(keys["currency"]).upper()
        if keys.get("tokens_processed") not in (None, ""):
            history.tokens.append((when, _number(keys["tokens_processed"], where, "tokens_processed")))
        return
    metric = keys.get("metric", keys.get("metric_name"))
    if metric is None or "value" not in keys:
        raise DataError(
            f"{where}: expected metric (or metric_name) and value, or amount and category.",
            hint="Metric rows: timestamp,metric,value (metric one of " + ", ".join(METRICS) + ").",
        )
    name = str(metric).strip().lower()
    if name not in METRICS:
        raise DataError(f"{where}: unknown metric {metric!r}.", hint="Use one of " + ", ".join(METRICS) + ".")
    history.metrics.setdefault(name, []).append((when, _number(keys["value"], where, "value")))


def load_history(path: str | Path) -> History:
    """Read a CSV or JSON history file; errors name the line or record."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"History file not found: {p}", hint="Pass a CSV or JSON file of timestamp,metric,value rows.")
    history = History()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read {p}: {exc}") from exc
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
        records: list[Any] = []
        if isinstance(data, dict):
            records = list(data.get("metrics", [])) + list(data.get("costs", []))
        elif isinstance(data, list):
            records = data
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise DataError(f"{p}: record {i + 1} is not an object.")
            _add(history, record, f"{p} record {i + 1}")
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "timestamp" not in [f.strip().lower() for f in reader.fieldnames]:
            raise DataError(
                f"{p}: the first line must be a header with timestamp and metric,value (or amount,category).",
                hint="Example header: timestamp,metric,value",
            )
        for line, row in enumerate(reader, start=2):
            _add(history, row, f"{p}:{line}")
    if not history.metrics and not history.costs:
        raise DataError(f"{p} has no readings.", hint="Add rows: timestamp,metric,value.")
    return history


@dataclass
class Daily:
    """One value per day, with how many days were interpolated."""

    start: date
    values: list[float]
    gaps: int

    def day(self, i: int) -> date:
        """The date of index ``i`` (may be past the end: forecast days)."""
        return self.start + timedelta(days=i)


def daily(readings: list[tuple[datetime, float]], how: str) -> Daily:
    """Aggregate readings per UTC day (``max``, ``mean`` or ``sum``); interpolate missing days."""
    if how not in ("max", "mean", "sum"):
        raise DataError(f"Unknown aggregation '{how}'.", hint="Use max, mean or sum.")
    buckets: dict[date, list[float]] = {}
    for when, value in readings:
        buckets.setdefault(when.astimezone(timezone.utc).date(), []).append(value)
    days = sorted(buckets)
    start, end = days[0], days[-1]
    agg = {"max": max, "sum": sum, "mean": lambda v: sum(v) / len(v)}[how]
    known = {d: float(agg(v)) for d, v in buckets.items()}  # type: ignore[operator]
    values: list[float] = []
    gaps = 0
    n = (end - start).days + 1
    for i in range(n):
        d = start + timedelta(days=i)
        if d in known:
            values.append(known[d])
            continue
        gaps += 1
        prev_i = max(j for j in range(i) if start + timedelta(days=j) in known)
        next_d = min(k for k in days if k > d)
        next_i = (next_d - start).days
        frac = (i - prev_i) / (next_i - prev_i)
        values.append(known[start + timedelta(days=prev_i)] * (1 - frac) + known[next_d] * frac)
    return Daily(start, values, gaps)
