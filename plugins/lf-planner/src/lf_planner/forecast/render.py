"""Showing and writing a forecast: rich summary, JSON, CSV (one row per day) or an HTML report."""

from __future__ import annotations

import csv
import io
from html import escape
from pathlib import Path

import msgspec

from lf_planner.forecast.result import ForecastResult


def to_csv(result: ForecastResult) -> str:
    """``date,p10,p50,p90`` for the forecast days (history rows have only ``actual``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["date", "actual", "p10", "p50", "p90"])
    from datetime import date, timedelta

    start = date.fromisoformat(result.history_start)
    for i, value in enumerate(result.history):
        writer.writerow([(start + timedelta(days=i)).isoformat(), value, "", "", ""])
    for p in result.forecast:
        writer.writerow([p.date, "", p.p10, p.p50, p.p90])
    return buffer.getvalue()


def to_html(result: ForecastResult) -> str:
    """A self-contained report: the band chart, scenarios, backtest, drift, budget, capacity."""
    from lf_planner.report_html import CSS
    from lf_planner.svg import band_chart

    n = len(result.history)
    chart = band_chart(
        f"{result.metric} per day ({result.aggregate}): history and forecast P10-P50-P90",
        [(float(i), v) for i, v in enumerate(result.history)],
        [(float(n + i), p.p10, p.p50, p.p90) for i, p in enumerate(result.forecast)],
        f"{result.metric} ({result.unit})",
        [
            (0.0, result.history_start),
            (float(n), result.forecast[0].date),
            (float(n + len(result.forecast) - 1), result.forecast[-1].date),
        ],
    )
    rows = "".join(
        f"<tr><td>{escape(s.name)}</td><td>{escape(s.description)}</td>"
        f"<td class='v'>{s.peak:,.4g}</td><td class='v'>{s.mean:,.4g}</td></tr>"
        for s in result.scenarios
    )
    bt = result.backtest
    extra = []
    if result.capacity:
        c = result.capacity
        extra.append(
            f"<h2>Capacity</h2><p>{c.total_gpus} x {escape(c.recommended_gpu_type)} at peak "
            f"({c.min_replicas}-{c.max_replicas} "
            f"replicas of {c.gpus_per_replica}), sized for {c.sized_for_rps:,.4g} rps</p>"
        )
    if result.budget:
        b = result.budget
        months = "".join(
            f"<tr><td>{m.month}</td><td>{escape(m.start)}</td><td class='v'>{m.forecast:,.2f}</td>"
            f"<td>{'over' if m.over else 'within'}</td></tr>"
            for m in b.months
        )
        extra.append(f"<h2>Budget ({b.monthly_budget:,.2f}/month)</h2><table>{months}</table>")
    warnings = "".join(f'<div class="warn">{escape(w)}</div>' for w in result.warnings)
    notes = "".join(f"<li><b>{a.id}</b> {escape(a.text)}</li>" for a in result.assumptions)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Forecast</title>"
        f"<style>{CSS}</style></head><body><h1>Forecast: {escape(result.metric)}</h1>"
        f"<p class='sub'>{result.history_days} days of history "
        f"({escape(result.history_start)} - {escape(result.history_end)}), "
        f"{len(result.forecast)} days ahead; peak P90 {result.peak_p90:,.4g} on {escape(result.peak_p90_date)}</p>"
        f"{warnings}<figure>{chart}</figure>"
        f"<h2>Scenarios</h2><table><tr><th>scenario</th><th></th><th>peak</th><th>mean</th></tr>{rows}</table>"
        f"<h2>Backtest</h2><p>{bt.origins} origins, {bt.horizon_days}-day horizon: P10-P90 coverage "
        f"{'-' if bt.coverage_p10_p90 is None else f'{bt.coverage_p10_p90:.0%}'} (80% expected), MAPE "
        f"{'-' if bt.mape_pct is None else f'{bt.mape_pct:.1f}%'}. "
        f"Drift: {'yes' if result.drift.flagged else 'no'}.</p>"
        + "".join(extra)
        + f"<h2>Assumptions</h2><ol style='list-style:none;padding:0'>{notes}</ol></body></html>\n"
    )


def print_forecast(result: ForecastResult) -> None:
    """The terminal summary."""
    from rich.markup import escape as esc
    from rich.table import Table

    from lf.plugin_api import console

    con = console()
    con.print(
        f"[bold]{esc(result.metric)}[/] ({esc(result.unit)}, {result.aggregate} per day): "
        f"{result.history_days} days of history, "
        f"{len(result.forecast)} days forecast; peak P90 [bold]{result.peak_p90:,.4g}[/] on {result.peak_p90_date}"
    )
    bt = result.backtest
    cov = "-" if bt.coverage_p10_p90 is None else f"{bt.coverage_p10_p90:.0%}"
    mape = "-" if bt.mape_pct is None else f"{bt.mape_pct:.1f}%"
    con.print(f"backtest: {bt.origins} origins, P10-P90 coverage {cov} (80% expected), MAPE {mape}")
    drift = result.drift
    con.print(
        f"drift: {'[red]yes[/]' if drift.flagged else 'no'}"
        + (
            f" ({drift.deviation_pct:g}% vs {drift.threshold_pct:g}% threshold over {drift.window_days} days)"
            if drift.deviation_pct is not None
            else ""
        )
    )
    table = Table(title="Scenarios", title_justify="left", box=None)
    for col in ("scenario", "peak", "mean", "total"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for s in result.scenarios:
        table.add_row(
            ("* " if s.name == result.selected_scenario else "  ") + s.name,
            f"{s.peak:,.4g}",
            f"{s.mean:,.4g}",
            f"{s.total:,.2f}",
        )
    con.print(table)
    week = Table(title="Forecast (first days; --output for all)", title_justify="left", box=None)
    for col in ("date", "P10", "P50", "P90"):
        week.add_column(col, justify="left" if col == "date" else "right")
    for p in result.forecast[:7]:
        week.add_row(p.date, f"{p.p10:,.4g}", f"{p.p50:,.4g}", f"{p.p90:,.4g}")
    con.print(week)
    if result.capacity:
        c = result.capacity
        cost = f", {c.monthly_total_cost:,.0f} USD/month" if c.monthly_total_cost is not None else ""
        con.print(
            f"[bold]capacity[/] for {c.sized_for_rps:,.4g} rps: {c.total_gpus} x {esc(c.recommended_gpu_type)} "
            f"({c.min_replicas}-{c.max_replicas} replicas of {c.gpus_per_replica}){cost}"
        )
    if result.budget:
        b = result.budget
        state = f"[red]over from month {b.first_month_over}[/]" if b.over_budget else "[green]within[/]"
        con.print(f"[bold]budget[/] {b.monthly_budget:,.2f}/month ({b.scenario}, {esc(b.basis)}): {state}")
    for w in result.warnings:
        con.print(f"[yellow]warning:[/] {esc(w)}")
    for a in result.assumptions:
        con.print(f"[dim]{a.id}[/] {esc(a.text)}", highlight=False)


def emit_forecast(result: ForecastResult, output: Path | None, fmt: str | None, as_json: bool) -> None:
    """Print and/or write the forecast."""
    import sys

    from lf.plugin_api import info, is_quiet
    from lf_planner.export import format_for
    from lf_planner.export import write_text as atomic_write_text

    text = msgspec.json.format(msgspec.json.encode(result), indent=2).decode() + "\n"
    if as_json:
        sys.stdout.write(text)
    elif not is_quiet():
        print_forecast(result)
    if output is not None:
        chosen = format_for(output, fmt)
        body = {"json": text, "csv": to_csv(result), "html": to_html(result)}[chosen]
        atomic_write_text(output, body)
        info(f"wrote {chosen.upper()} forecast: {output}")
