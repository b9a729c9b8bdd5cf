"""The terminal summary of a fine-tuning plan: headline, memory, training, cost, options."""

from __future__ import annotations

from typing import Any

from lf_planner.plans import TrainingCapacityPlan
from lf_planner.render_common import money, number, print_footer, print_options, refs, table


def print_training_plan(p: TrainingCapacityPlan) -> None:
    """Print the fine-tuning plan ``p`` to the terminal."""
    from lf.plugin_api import console

    con = console()
    con.print(_headline(p))
    con.print(_memory_table(p))
    con.print(_training_table(p))
    if p.cost:
        con.print(_cost_table(p))
    print_options(
        con,
        ["GPU type", "GPUs", "ZeRO", "GB/GPU", "hours", "run cost"],
        [
            [
                o.gpu_type,
                str(o.gpus),
                str(o.zero_stage),
                f"{o.gpu_memory_per_gpu_gb:,.1f}",
                f"{o.estimated_duration_hours:,.1f}",
                money(o.total_training_cost) if o.total_training_cost is not None else "no price",
            ]
            for o in p.gpu_comparison
            if o.fits
        ][:8],
        p.gpu_resources.recommended_gpu_type,
    )
    print_footer(con, p)


def _headline(p: TrainingCapacityPlan) -> Any:
    """The boxed answer: GPUs, memory per GPU, duration, cost."""
    from rich.markup import escape
    from rich.panel import Panel

    g, m, t = p.gpu_resources, p.training_metrics, p.training_input
    fits = "" if g.fits_in_memory else "\n[red]does not fit in GPU memory - see the warnings[/]"
    cost = (
        f"\n[bold]{money(p.cost.total_training_cost)}[/] for the run ({money(p.cost.cost_per_epoch)} per epoch)"
        if p.cost
        else ""
    )
    headline = (
        f"[bold]{g.required_gpus} x {escape(g.recommended_gpu_type)}[/] ({g.num_nodes} node(s), ZeRO-{g.zero_stage}), "
        f"{g.gpu_memory_per_gpu_gb:,.1f} GB per GPU\n"
        f"{number(m.total_tokens_per_second)} tokens/s -> [bold]{m.estimated_duration_hours:,.1f} h[/] "
        f"({m.estimated_duration_days:,.2f} days) for {m.total_steps:,} steps{fits}{cost}"
    )
    title = (
        f"{t.method.upper() if t.method != 'full' else 'Full'} fine-tuning of {escape(p.model.name)} "
        f"({p.model.parameters_billions:g}B) on {t.dataset_size_tokens:,} tokens x {t.num_epochs} epoch(s)"
    )
    return Panel(headline, title=title, title_align="left", expand=False)


def _memory_table(p: TrainingCapacityPlan) -> Any:
    """Memory per GPU by kind."""
    a, g = p.assumptions, p.gpu_resources
    return table(
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


def _training_table(p: TrainingCapacityPlan) -> Any:
    """Throughput, steps, duration, data-parallel layout and storage."""
    a, m, dp = p.assumptions, p.training_metrics, p.data_parallel_config
    return table(
        "Training",
        [
            (
                "tokens/s per GPU",
                number(m.tokens_per_second_per_gpu),
                refs(a, "training_metrics.tokens_per_second_per_gpu"),
            ),
            ("tokens/s total", number(m.total_tokens_per_second), ""),
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


def _cost_table(p: TrainingCapacityPlan) -> Any:
    """The GPU price and the run's cost (the plan has a cost)."""
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
            ("all GPUs per hour", money(c.gpu_cost_per_hour), ""),
            ("per epoch / whole run", f"{money(c.cost_per_epoch)} / {money(c.total_training_cost)}", ""),
            ("per 1M training tokens", money(c.cost_per_million_tokens), ""),
        ],
    )
