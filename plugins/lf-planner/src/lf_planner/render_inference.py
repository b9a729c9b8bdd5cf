"""The terminal summary of a serving plan: headline, resources, latency, infrastructure, cost, options."""

from __future__ import annotations

from typing import Any

from lf_planner.plans import LLMCapacityPlan
from lf_planner.render_common import money, number, print_footer, print_options, refs, table


def print_inference_plan(p: LLMCapacityPlan) -> None:
    """Print the serving plan ``p`` to the terminal."""
    from lf.plugin_api import console

    con = console()
    con.print(_headline(p))
    con.print(_resources_table(p))
    con.print(_latency_table(p))
    con.print(_infrastructure_table(p))
    if p.cost:
        con.print(_cost_table(p))
    g = p.gpu_resources
    print_options(
        con,
        ["GPU type", "GPUs/replica", "GPUs", "tok/s/replica", "TTFT ms", "SLA", "$/month"],
        [
            [
                o.gpu_type,
                str(o.gpus_per_replica),
                str(o.total_gpus),
                number(o.tps_per_replica),
                number(o.estimated_ttft_ms),
                {True: "ok", False: "missed", None: "-"}[o.meets_latency_sla],
                money(o.monthly_gpu_cost) if o.monthly_gpu_cost is not None else "no price",
            ]
            for o in p.gpu_comparison
            if o.fits
        ][:8],
        g.recommended_gpu_type,
    )
    print_footer(con, p)


def _headline(p: LLMCapacityPlan) -> Any:
    """The boxed answer: GPUs, throughput, latency against the SLA, monthly cost."""
    from rich.markup import escape
    from rich.panel import Panel

    g, t, w = p.gpu_resources, p.throughput, p.workload_input
    peak = w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100)
    sla = {True: "[green]meets the SLA[/]", False: "[red]misses the SLA[/]", None: "no SLA given"}[t.meets_latency_sla]
    cost = (
        f"\n[bold]{money(p.cost.monthly_total_cost)}[/]/month ({money(p.cost.cost_per_million_tokens)} per 1M tokens)"
        if p.cost
        else ""
    )
    headline = (
        f"[bold]{g.max_replicas} x {g.min_gpus_per_replica} {escape(g.recommended_gpu_type)}[/] = "
        f"[bold]{g.total_gpus} GPUs[/] at peak ({g.min_replicas}-{g.max_replicas} replicas)\n"
        f"{number(t.tps_per_replica)} tokens/s per replica, up to {t.max_rps_capacity:,.1f} requests/s in all\n"
        f"TTFT {t.estimated_ttft_ms:,.0f} ms (p99 {t.estimated_ttft_p99_ms:,.0f} ms), "
        f"{t.estimated_itl_ms:,.1f} ms between tokens - {sla}{cost}"
    )
    title = (
        f"Serving {escape(p.model.name)} ({p.model.parameters_billions:g}B, {p.model_config.precision}) at "
        f"{w.requests_per_second:g} rps (peak {peak:,.1f})"
    )
    return Panel(headline, title=title, title_align="left", expand=False)


def _resources_table(p: LLMCapacityPlan) -> Any:
    """Memory per replica by kind, GPUs and replicas."""
    a, g = p.assumptions, p.gpu_resources
    mb = g.memory_breakdown
    return table(
        "GPU resources",
        [
            ("memory per replica", f"{mb.total_gb:,.1f} GB", refs(a, "gpu_resources.memory_breakdown")),
            ("  weights", f"{mb.weights_gb:,.1f} GB", refs(a, "gpu_resources.memory_breakdown.weights_gb")),
            (
                "  KV cache (full batch)",
                f"{mb.kv_cache_gb:,.1f} GB",
                refs(a, "gpu_resources.memory_breakdown.kv_cache_gb"),
            ),
            ("  overhead", f"{mb.overhead_gb:,.1f} GB", refs(a, "gpu_resources.memory_breakdown.overhead_gb")),
            (
                "GPUs per replica",
                f"{g.min_gpus_per_replica} x {g.recommended_gpu_type} ({g.gpu_memory_gb:g} GB)",
                refs(a, "gpu_resources.min_gpus_per_replica"),
            ),
            ("replicas (min-max)", f"{g.min_replicas}-{g.max_replicas}", refs(a, "gpu_resources.min_replicas")),
            ("total GPUs at peak", str(g.total_gpus), ""),
            (
                "running sequences / replica",
                str(g.max_concurrent_sequences_per_replica),
                refs(a, "gpu_resources.max_concurrent_sequences_per_replica"),
            ),
        ],
    )


def _latency_table(p: LLMCapacityPlan) -> Any:
    """Throughput, latency, and each SLA check."""
    a, t = p.assumptions, p.throughput
    rows = [
        ("output tokens/s per replica", number(t.tps_per_replica), refs(a, "throughput.tps_per_replica")),
        ("requests/s per replica", f"{t.rps_per_replica:,.2f}", ""),
        ("total tokens/s (max replicas)", number(t.total_tps_capacity), ""),
        ("max requests/s", f"{t.max_rps_capacity:,.2f}", ""),
        (
            "TTFT p50 / p99",
            f"{t.estimated_ttft_ms:,.0f} / {t.estimated_ttft_p99_ms:,.0f} ms",
            refs(a, "throughput.estimated_ttft_ms"),
        ),
        ("inter-token latency", f"{t.estimated_itl_ms:,.1f} ms", refs(a, "throughput.estimated_itl_ms")),
        ("request latency (p50)", f"{t.estimated_e2e_latency_ms / 1000:,.2f} s", ""),
        ("decode is", t.decode_bound + "-bound", refs(a, "throughput.decode_bound")),
    ]
    rows += [
        (f"SLA {c.metric}", f"{c.estimate_ms:g} vs {c.target_ms:g} ms {'ok' if c.ok else 'MISSED'}", "")
        for c in t.sla_checks
    ]
    return table("Throughput and latency", rows)


def _infrastructure_table(p: LLMCapacityPlan) -> Any:
    """Storage, network and the autoscaling thresholds."""
    a = p.assumptions
    s, n, sc = p.storage, p.network, p.scaling
    return table(
        "Storage, network, scaling",
        [
            (
                "storage (model / cache / logs)",
                f"{s.model_storage_gb:,.0f} / {s.cache_storage_gb:,.0f} / {s.log_storage_gb:,.1f} GB",
                refs(a, "storage"),
            ),
            ("bandwidth at peak", f"{n.bandwidth_mbps:,.2f} Mbit/s", refs(a, "network")),
            ("connections / load balancers", f"{n.connection_limit:,} / {n.recommended_load_balancers}", ""),
            (
                "scale up at",
                f"{sc.auto_scale_rps_threshold:,.2f} rps/replica, {sc.auto_scale_gpu_util_threshold:.0%} GPU, "
                f"{sc.auto_scale_latency_threshold_ms:,.0f} ms p99",
                refs(a, "scaling"),
            ),
        ],
    )


def _cost_table(p: LLMCapacityPlan) -> Any:
    """The GPU price and the monthly and per-token costs (the plan has a cost)."""
    c = p.cost
    assert c is not None
    return table(
        "Cost",
        [
            (
                "GPU price",
                f"{money(c.usd_per_gpu_hour)}/GPU-hour at {c.provider} (read {c.price_read_on})",
                refs(p.assumptions, "cost"),
            ),
            ("GPUs per month (autoscaled)", money(c.monthly_gpu_cost), ""),
            ("GPUs per month at max replicas", money(c.monthly_gpu_cost_at_max_replicas), ""),
            (
                "per 1M tokens (in + out / out)",
                f"{money(c.cost_per_million_tokens)} / {money(c.cost_per_million_output_tokens)}",
                "",
            ),
            ("total per month", money(c.monthly_total_cost), ""),
        ],
    )
