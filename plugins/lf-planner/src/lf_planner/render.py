"""The human output: a scannable rich summary with the assumptions as numbered footnotes.

``render_inference`` and ``render_training`` print the two kinds of plan (``render_common`` holds
what they share); this module dispatches and prints the GPU catalog and the known models.
"""

from __future__ import annotations

import msgspec

from lf_planner.plans import LLMCapacityPlan, TrainingCapacityPlan
from lf_planner.render_common import refs
from lf_planner.render_inference import print_inference_plan
from lf_planner.render_training import print_training_plan

__all__ = ["print_gpus", "print_models", "print_plan", "refs"]


def print_plan(plan: LLMCapacityPlan | TrainingCapacityPlan) -> None:
    """Print ``plan`` to the terminal."""
    if isinstance(plan, TrainingCapacityPlan):
        print_training_plan(plan)
    else:
        print_inference_plan(plan)


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

    from lf.plugin_api import console

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

    from lf.plugin_api import console
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
