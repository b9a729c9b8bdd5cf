"""The human output: a scannable rich summary with the assumptions as numbered footnotes."""

from __future__ import annotations

from typing import Any

import msgspec

from lf_planner.plans import Assumption, LLMCapacityPlan, TrainingCapacityPlan


def refs(assumptions: list[Assumption], *paths: str) -> str:
    """``[A3,A5]``: the assumptions that cover any of ``paths`` (a section covers its fields)."""
    ids: list[str] = []
    for a in assumptions:
        for target in a.applies_to:
            if any(p == target or p.startswith(target + ".") for p in paths) and a.id not in ids:
                ids.append(a.id)
    return f"[{','.join(ids)}]" if ids else ""


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _table(title: str, rows: list[tuple[str, str, str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None, pad_edge=False)
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(justify="right")
    table.add_column(style="dim")
    for row in rows:
        table.add_row(*row)
    return table


def print_plan(plan: LLMCapacityPlan | TrainingCapacityPlan) -> None:
    """Print ``plan`` to the terminal."""
    if isinstance(plan, TrainingCapacityPlan):
        _print_training(plan)
    else:
        _print_inference(plan)


def _footer(con: Any, plan: LLMCapacityPlan | TrainingCapacityPlan) -> None:
    from rich.markup import escape

    if plan.warnings:
        con.print()
        for w in plan.warnings:
            con.print(f"[yellow]warning:[/] {escape(w)}")
    con.print()
    con.print("[bold]Assumptions[/]")
    for a in plan.assumptions:
        con.print(f"[dim]{a.id}[/] {escape(a.text)}", highlight=False)


def _print_inference(p: LLMCapacityPlan) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from lf.cli.console import console

    con = console()
    a = p.assumptions
    g, t, w = p.gpu_resources, p.throughput, p.workload_input
    peak = w.requests_per_second * w.peak_load_multiplier * (1 + w.growth_rate / 100)
    sla = {True: "[green]meets the SLA[/]", False: "[red]misses the SLA[/]", None: "no SLA given"}[t.meets_latency_sla]
    cost = (
        f"\n[bold]{_money(p.cost.monthly_total_cost)}[/]/month ({_money(p.cost.cost_per_million_tokens)} per 1M tokens)"
        if p.cost
        else ""
    )
    headline = (
        f"[bold]{g.max_replicas} x {g.min_gpus_per_replica} {escape(g.recommended_gpu_type)}[/] = "
        f"[bold]{g.total_gpus} GPUs[/] at peak ({g.min_replicas}-{g.max_replicas} replicas)\n"
        f"{_n(t.tps_per_replica)} tokens/s per replica, up to {t.max_rps_capacity:,.1f} requests/s in all\n"
        f"TTFT {t.estimated_ttft_ms:,.0f} ms (p99 {t.estimated_ttft_p99_ms:,.0f} ms), "
        f"{t.estimated_itl_ms:,.1f} ms between tokens - {sla}{cost}"
    )
    title = (
        f"Serving {escape(p.model.name)} ({p.model.parameters_billions:g}B, {p.model_config.precision}) at "
        f"{w.requests_per_second:g} rps (peak {peak:,.1f})"
    )
    con.print(Panel(headline, title=title, title_align="left", expand=False))
    mb = g.memory_breakdown
    con.print(
        _table(
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
    )
    rows = [
        ("output tokens/s per replica", _n(t.tps_per_replica), refs(a, "throughput.tps_per_replica")),
        ("requests/s per replica", f"{t.rps_per_replica:,.2f}", ""),
        ("total tokens/s (max replicas)", _n(t.total_tps_capacity), ""),
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
    con.print(_table("Throughput and latency", rows))
    s, n, sc = p.storage, p.network, p.scaling
    con.print(
        _table(
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
    )
    if p.cost:
        c = p.cost
        con.print(
            _table(
                "Cost",
                [
                    (
                        "GPU price",
                        f"{_money(c.usd_per_gpu_hour)}/GPU-hour at {c.provider} (read {c.price_read_on})",
                        refs(a, "cost"),
                    ),
                    ("GPUs per month (autoscaled)", _money(c.monthly_gpu_cost), ""),
                    ("GPUs per month at max replicas", _money(c.monthly_gpu_cost_at_max_replicas), ""),
                    (
                        "per 1M tokens (in + out / out)",
                        f"{_money(c.cost_per_million_tokens)} / {_money(c.cost_per_million_output_tokens)}",
                        "",
                    ),
                    ("total per month", _money(c.monthly_total_cost), ""),
                ],
            )
        )
    _print_options(
        con,
        ["GPU type", "GPUs/replica", "GPUs", "tok/s/replica", "TTFT ms", "SLA", "$/month"],
        [
            [
                o.gpu_type,
                str(o.gpus_per_replica),
                str(o.total_gpus),
                _n(o.tps_per_replica),
                _n(o.estimated_ttft_ms),
                {True: "ok", False: "missed", None: "-"}[o.meets_latency_sla],
                _money(o.monthly_gpu_cost) if o.monthly_gpu_cost is not None else "no price",
            ]
            for o in p.gpu_comparison
            if o.fits
        ][:8],
        g.recommended_gpu_type,
    )
    _footer(con, p)


def _print_options(con: Any, header: list[str], rows: list[list[str]], chosen: str) -> None:
    from rich.table import Table

    table = Table(title="Other GPU types (same workload)", title_justify="left", title_style="bold", box=None)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row, style="bold" if row[0] == chosen else None)
    con.print(table)


def _print_training(p: TrainingCapacityPlan) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from lf.cli.console import console

    con = console()
    a = p.assumptions
    g, m, t, dp = p.gpu_resources, p.training_metrics, p.training_input, p.data_parallel_config
    fits = "" if g.fits_in_memory else "\n[red]does not fit in GPU memory - see the warnings[/]"
    cost = (
        f"\n[bold]{_money(p.cost.total_training_cost)}[/] for the run ({_money(p.cost.cost_per_epoch)} per epoch)"
        if p.cost
        else ""
    )
    headline = (
        f"[bold]{g.required_gpus} x {escape(g.recommended_gpu_type)}[/] ({g.num_nodes} node(s), ZeRO-{g.zero_stage}), "
        f"{g.gpu_memory_per_gpu_gb:,.1f} GB per GPU\n"
        f"{_n(m.total_tokens_per_second)} tokens/s -> [bold]{m.estimated_duration_hours:,.1f} h[/] "
        f"({m.estimated_duration_days:,.2f} days) for {m.total_steps:,} steps{fits}{cost}"
    )
    title = (
        f"{t.method.upper() if t.method != 'full' else 'Full'} fine-tuning of {escape(p.model.name)} "
        f"({p.model.parameters_billions:g}B) on {t.dataset_size_tokens:,} tokens x {t.num_epochs} epoch(s)"
    )
    con.print(Panel(headline, title=title, title_align="left", expand=False))
    con.print(
        _table(
            "Memory per GPU",
            [
                ("total", f"{g.gpu_memory_per_gpu_gb:,.2f} GB of {g.gpu_memory_gb:g}", ""),
                ("  weights", f"{g.model_weights_gb:,.2f} GB", refs(a, "gpu_resources.model_weights_gb")),
                ("  gradients", f"{g.gradients_gb:,.2f} GB", refs(a, "gpu_resources.gradients_gb")),
                (
                    "  optimizer states",
                    f"{g.optimizer_states_gb:,.2f} GB",
                    refs(a, "gpu_resources.optimizer_states_gb"),
                ),
                ("  activations (+ logits)", f"{g.activations_gb:,.2f} GB", refs(a, "gpu_resources.activations_gb")),
                ("  sharding buffers", f"{g.buffers_gb:,.2f} GB", ""),
                ("activations without checkpointing", f"{g.activations_without_checkpointing_gb:,.2f} GB", ""),
                ("trainable parameters", f"{g.trainable_parameters_billions * 1000:,.1f} M", ""),
            ],
        )
    )
    con.print(
        _table(
            "Training",
            [
                (
                    "tokens/s per GPU",
                    _n(m.tokens_per_second_per_gpu),
                    refs(a, "training_metrics.tokens_per_second_per_gpu"),
                ),
                ("tokens/s total", _n(m.total_tokens_per_second), ""),
                ("steps per epoch / total", f"{m.steps_per_epoch:,} / {m.total_steps:,}", ""),
                ("step time", f"{m.step_time_seconds:,.2f} s", ""),
                (
                    "duration",
                    f"{m.estimated_duration_hours:,.1f} h = {m.estimated_duration_days:,.2f} days",
                    refs(a, "training_metrics.estimated_duration_hours"),
                ),
                (
                    "data parallel",
                    f"{dp.data_parallel_size} GPUs x micro {dp.micro_batch_size} x accumulation "
                    f"{dp.gradient_accumulation_steps} = {dp.effective_batch_size} sequences",
                    refs(a, "data_parallel_config"),
                ),
                (
                    "storage (checkpoints x kept + data)",
                    f"{p.storage.model_checkpoint_gb:,.1f} x {p.storage.checkpoints_kept} + "
                    f"{p.storage.dataset_storage_gb:,.1f} GB",
                    refs(a, "storage"),
                ),
            ],
        )
    )
    if p.cost:
        c = p.cost
        con.print(
            _table(
                "Cost",
                [
                    (
                        "GPU price",
                        f"{_money(c.usd_per_gpu_hour)}/GPU-hour at {c.provider} (read {c.price_read_on})",
                        refs(a, "cost"),
                    ),
                    ("all GPUs per hour", _money(c.gpu_cost_per_hour), ""),
                    ("per epoch / whole run", f"{_money(c.cost_per_epoch)} / {_money(c.total_training_cost)}", ""),
                    ("per 1M training tokens", _money(c.cost_per_million_tokens), ""),
                ],
            )
        )
    _print_options(
        con,
        ["GPU type", "GPUs", "ZeRO", "GB/GPU", "hours", "run cost"],
        [
            [
                o.gpu_type,
                str(o.gpus),
                str(o.zero_stage),
                f"{o.gpu_memory_per_gpu_gb:,.1f}",
                f"{o.estimated_duration_hours:,.1f}",
                _money(o.total_training_cost) if o.total_training_cost is not None else "no price",
            ]
            for o in p.gpu_comparison
            if o.fits
        ][:8],
        g.recommended_gpu_type,
    )
    _footer(con, p)


def print_gpus(hardware_file: str | None, as_json: bool) -> None:
    """``lf plan gpus``: the catalog and prices."""
    import sys

    from lf_planner.hardware import HardwareFile, load_catalog

    catalog = load_catalog(hardware_file)
    if as_json:
        data = HardwareFile(
            gpus=list(catalog.gpus.values()), prices=catalog.prices, infrastructure=catalog.infrastructure
        )
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n")
        return
    from rich.table import Table

    from lf.cli.console import console

    table = Table(title="GPU types (dense tensor throughput, TFLOPS)", title_justify="left", box=None)
    for col in ("GPU", "memory GB", "HBM GB/s", "BF16", "FP8", "INT8", "interconnect", "cheapest $/h"):
        table.add_column(col, justify="left" if col in ("GPU", "interconnect") else "right")
    for gpu in sorted(catalog.gpus.values(), key=lambda g: g.name):
        price = catalog.price(gpu.name, None)
        table.add_row(
            gpu.name,
            f"{gpu.memory_gb:g}",
            f"{gpu.memory_bandwidth_gbps:g}",
            f"{gpu.tflops('bf16') or 0:g}",
            f"{gpu.tflops('fp8'):g}" if gpu.tflops("fp8") else "-",
            f"{gpu.tflops('int8'):g}" if gpu.tflops("int8") else "-",
            f"{gpu.interconnect.name} {gpu.interconnect.bandwidth_gbps:g} GB/s",
            f"{price.usd_per_gpu_hour:g} ({price.provider})" if price else "-",
        )
    con = console()
    con.print(table)
    prices = Table(title="On-demand prices (USD per GPU-hour)", title_justify="left", box=None)
    for col in ("provider", "GPU", "$/GPU-h", "product", "read on"):
        prices.add_column(col)
    for p in sorted(catalog.prices, key=lambda p: (p.provider, p.gpu)):
        prices.add_row(p.provider, p.gpu, f"{p.usd_per_gpu_hour:g}", p.product, p.read_on)
    con.print(prices)
    con.print(f"[dim]data: {', '.join(catalog.sources)}; sources per row: lf plan gpus --json[/]")


def print_models() -> None:
    """``lf plan models``: the known architectures."""
    from rich.table import Table

    from lf.cli.console import console
    from lf_planner.architecture import KNOWN

    table = Table(title="Known architectures (--model NAME)", title_justify="left", box=None)
    for col in ("name", "params B", "layers", "hidden", "heads / KV", "KV KiB/token (16-bit)"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for name in sorted(KNOWN):
        arch = KNOWN[name]
        table.add_row(
            name,
            f"{arch.total_params() / 1e9:.2f}",
            str(arch.n_layers),
            str(arch.hidden),
            f"{arch.n_heads} / {arch.n_kv_heads}",
            f"{arch.kv_bytes_per_token(2) / 1024:.0f}",
        )
    console().print(table)
