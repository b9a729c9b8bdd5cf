"""The HTML report: one self-contained file (inline CSS + SVG charts), readable offline and printable to PDF."""

from __future__ import annotations

from html import escape
from typing import Any

import msgspec

from lf_planner import svg
from lf_planner.export import flatten
from lf_planner.plans import LLMCapacityPlan, TrainingCapacityPlan

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:980px;
color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.7rem 1rem;min-width:150px}
.card b{display:block;font-size:1.35rem} .card span{color:#666;font-size:.85rem}
.ok{color:#2e7d32} .bad{color:#c62828}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{padding:.25rem .5rem;border-bottom:1px solid #eee;text-align:left}
td.v{text-align:right;font-variant-numeric:tabular-nums} sup{color:#888}
.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.5rem .8rem;margin:.4rem 0}
figure{margin:1rem 0} svg{max-width:100%;height:auto}
ol.notes li{margin:.3rem 0;font-size:.9rem}
@media print{h2{page-break-after:avoid} figure{page-break-inside:avoid}}
"""


def _card(value: str, label: str, cls: str = "") -> str:
    return f'<div class="card"><b class="{cls}">{escape(value)}</b><span>{escape(label)}</span></div>'


def _refs(plan: Any, path: str) -> str:
    from lf_planner.render_common import refs

    text = refs(plan.assumptions, path)
    return f"<sup>{escape(text)}</sup>" if text else ""


def _section(plan: Any, name: str, title: str) -> str:
    data = msgspec.to_builtins(getattr(plan, name))
    if data is None:
        return ""
    rows = []
    for key, value in flatten(data, name):
        shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
        label = key.split(".", 1)[1] if "." in key else key
        rows.append(f"<tr><td>{escape(label)}{_refs(plan, key)}</td><td class='v'>{escape(shown)}</td></tr>")
    return f"<h2>{escape(title)}</h2><table>{''.join(rows)}</table>"


def _page(title: str, subtitle: str, body: list[str], plan: Any) -> str:
    warnings = "".join(f'<div class="warn">{escape(w)}</div>' for w in plan.warnings)
    notes = "".join(f'<li id="{a.id}"><b>{a.id}</b> {escape(a.text)}</li>' for a in plan.assumptions)
    sources = ", ".join(escape(s) for s in plan.hardware_data.sources)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1><p class='sub'>{escape(subtitle)}</p>"
        + warnings
        + "".join(body)
        + f"<h2>Assumptions</h2><ol class='notes' style='list-style:none;padding:0'>{notes}</ol>"
        + f"<p class='sub'>lf-planner {escape(plan.planner_version)}; "
        f"hardware data {escape(plan.hardware_data.digest)} "
        f"({sources}). Same input, same report.</p></body></html>\n"
    )


def render_html(plan: Any) -> str:
    """The report for either kind of plan."""
    if isinstance(plan, TrainingCapacityPlan):
        return _training(plan)
    if isinstance(plan, LLMCapacityPlan):
        return _inference(plan)
    raise TypeError(f"not a plan: {type(plan).__name__}")


def _inference(p: LLMCapacityPlan) -> str:
    """The serving plan's report."""
    w = p.workload_input
    body = [
        f"<div class='cards'>{''.join(_inference_cards(p))}</div>",
        *(f"<figure>{c}</figure>" for c in _inference_charts(p)),
        _section(p, "gpu_resources", "GPU resources"),
        _section(p, "throughput", "Throughput and latency"),
        _section(p, "storage", "Storage"),
        _section(p, "network", "Network"),
        _section(p, "scaling", "Scaling"),
        _section(p, "cost", "Cost"),
        _section(p, "model", "Model"),
        _section(p, "workload_input", "Workload"),
    ]
    title = f"Serving plan: {p.model.name} ({p.model_config.precision})"
    subtitle = (
        f"{w.requests_per_second:g} requests/s, {w.avg_input_tokens} input + {w.avg_output_tokens} output tokens, "
        f"peak x{w.peak_load_multiplier:g}, growth {w.growth_rate:g}%"
    )
    return _page(title, subtitle, body, p)


def _inference_cards(p: LLMCapacityPlan) -> list[str]:
    """The headline numbers of a serving plan."""
    g, t = p.gpu_resources, p.throughput
    sla = {True: ("meets SLA", "ok"), False: ("misses SLA", "bad"), None: ("no SLA given", "")}[t.meets_latency_sla]
    cards = [
        _card(
            f"{g.total_gpus} x {g.recommended_gpu_type}",
            f"{g.min_replicas}-{g.max_replicas} replicas of {g.min_gpus_per_replica} GPU(s)",
        ),
        _card(f"{t.tps_per_replica:,.0f} tok/s", "output tokens per second per replica"),
        _card(f"{t.estimated_ttft_ms:,.0f} ms", f"time to first token (p99 {t.estimated_ttft_p99_ms:,.0f} ms)"),
        _card(f"{t.estimated_itl_ms:,.1f} ms", "between tokens"),
        _card(sla[0], "latency", sla[1]),
    ]
    if p.cost:
        cards.append(
            _card(
                f"${p.cost.monthly_total_cost:,.0f}", f"per month (${p.cost.cost_per_million_tokens:,.3f} / 1M tokens)"
            )
        )
    return cards


def _inference_charts(p: LLMCapacityPlan) -> list[str]:
    """Memory per replica, replicas against load, and GPU cost by GPU type."""
    g, w = p.gpu_resources, p.workload_input
    mb = g.memory_breakdown
    capacity = g.gpu_memory_gb * g.min_gpus_per_replica
    return [
        svg.stacked_bar(
            f"Memory per replica ({g.min_gpus_per_replica} x {g.recommended_gpu_type})",
            [("weights", mb.weights_gb), ("KV cache", mb.kv_cache_gb), ("overhead", mb.overhead_gb)],
            capacity,
        ),
        svg.step_chart(
            "Replicas vs load",
            [(pt.requests_per_second, float(pt.replicas)) for pt in p.load_curve],
            [
                (w.requests_per_second, "average"),
                (w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100), "peak x growth"),
            ],
            "requests per second",
            "replicas",
        ),
        svg.bar_chart(
            "GPU cost per month by GPU type (same workload, autoscaled)",
            [
                (o.gpu_type, o.monthly_gpu_cost, o.gpu_type == g.recommended_gpu_type)
                for o in p.gpu_comparison
                if o.fits and o.monthly_gpu_cost is not None
            ][:10],
            "USD",
        ),
    ]


def _training(p: TrainingCapacityPlan) -> str:
    """The fine-tuning plan's report."""
    t = p.training_input
    body = [
        f"<div class='cards'>{''.join(_training_cards(p))}</div>",
        *(f"<figure>{c}</figure>" for c in _training_charts(p)),
        _section(p, "gpu_resources", "GPU resources"),
        _section(p, "training_metrics", "Training"),
        _section(p, "data_parallel_config", "Data-parallel layout"),
        _section(p, "storage", "Storage"),
        _section(p, "cost", "Cost"),
        _section(p, "model", "Model"),
        _section(p, "training_input", "Training input"),
    ]
    title = f"Training plan: {t.method} fine-tuning of {p.model.name}"
    subtitle = (
        f"{t.dataset_size_tokens:,} tokens x {t.num_epochs} epoch(s), sequences of {t.sequence_length}, "
        f"global batch {t.global_batch_size}"
    )
    return _page(title, subtitle, body, p)


def _training_cards(p: TrainingCapacityPlan) -> list[str]:
    """The headline numbers of a fine-tuning plan."""
    g, m = p.gpu_resources, p.training_metrics
    cards = [
        _card(f"{g.required_gpus} x {g.recommended_gpu_type}", f"{g.num_nodes} node(s), ZeRO-{g.zero_stage}"),
        _card(
            f"{g.gpu_memory_per_gpu_gb:,.1f} GB", f"per GPU of {g.gpu_memory_gb:g}", "" if g.fits_in_memory else "bad"
        ),
        _card(f"{m.total_tokens_per_second:,.0f} tok/s", "training throughput"),
        _card(
            f"{m.estimated_duration_hours:,.1f} h", f"{m.estimated_duration_days:,.2f} days, {m.total_steps:,} steps"
        ),
    ]
    if p.cost:
        cards.append(
            _card(f"${p.cost.total_training_cost:,.0f}", f"whole run (${p.cost.cost_per_epoch:,.0f} per epoch)")
        )
    return cards


def _training_charts(p: TrainingCapacityPlan) -> list[str]:
    """Memory per GPU, and run cost and duration by GPU type."""
    g = p.gpu_resources
    return [
        svg.stacked_bar(
            f"Memory per GPU ({g.recommended_gpu_type})",
            [
                ("weights", g.model_weights_gb),
                ("gradients", g.gradients_gb),
                ("optimizer", g.optimizer_states_gb),
                ("activations", g.activations_gb),
                ("buffers", g.buffers_gb),
            ],
            g.gpu_memory_gb,
        ),
        svg.bar_chart(
            "Run cost by GPU type (fewest GPUs that fit)",
            [
                (o.gpu_type, o.total_training_cost, o.gpu_type == g.recommended_gpu_type)
                for o in p.gpu_comparison
                if o.fits and o.total_training_cost is not None
            ][:10],
            "USD",
        ),
        svg.bar_chart(
            "Duration by GPU type (hours)",
            [
                (o.gpu_type, o.estimated_duration_hours, o.gpu_type == g.recommended_gpu_type)
                for o in p.gpu_comparison
                if o.fits
            ][:10],
            "h",
        ),
    ]
