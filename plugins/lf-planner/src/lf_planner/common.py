"""Helpers shared by the inference and training planners."""

from __future__ import annotations

import math

from lf_planner import memory
from lf_planner.architecture import ModelArch
from lf_planner.hardware import Catalog, Price
from lf_planner.plans import Assumption, HardwareData, ModelInfo


def planner_version() -> str:
    """The installed lf-planner version (read from its metadata only when asked)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lf-planner")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def rounded(value: float, digits: int = 2) -> float:
    """Round for output (deterministic, readable); tiny values keep 3 significant digits."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    if abs(value) < 10 ** (-digits):
        return float(f"{value:.3g}")
    return round(value, digits)


def model_info(arch: ModelArch, precision: str, kv_precision: str | None, *, nf4: bool = False) -> ModelInfo:
    """What the planner understood about the model."""
    w = memory.weights(arch, precision, nf4=nf4)
    return ModelInfo(
        name=arch.name,
        parameters_billions=rounded(arch.total_params() / 1e9, 3),
        active_parameters_billions=rounded(arch.active_params() / 1e9, 3),
        architecture=arch.describe(),
        architecture_source=arch.source,
        layers=arch.n_layers,
        hidden_size=arch.hidden,
        attention_heads=arch.n_heads,
        kv_heads=arch.n_kv_heads,
        head_dim=arch.head_dim,
        vocab_size=arch.vocab,
        weight_bytes_per_parameter=rounded(w.total_gb * 1e9 / arch.total_params(), 3),
        kv_cache_bytes_per_token=rounded(memory.kv_cache_bytes_per_token(arch, precision, kv_precision), 1),
    )


def hardware_data(catalog: Catalog) -> HardwareData:
    """Digest and sources of the hardware data used."""
    return HardwareData(digest=catalog.digest, sources=list(catalog.sources))


def price_for(catalog: Catalog, gpu: str, provider: str | None) -> Price | None:
    """The price used for ``gpu``: at ``provider`` when given, else the cheapest listed."""
    return catalog.price(gpu, provider)


class Notes:
    """Collects assumptions (numbered A1, A2, ...) and warnings while a plan is built."""

    def __init__(self) -> None:
        self.assumptions: list[Assumption] = []
        self.warnings: list[str] = []

    def add(self, applies_to: list[str], text: str) -> str:
        """Record an assumption; returns its id."""
        aid = f"A{len(self.assumptions) + 1}"
        self.assumptions.append(Assumption(id=aid, applies_to=applies_to, text=text))
        return aid

    def warn(self, text: str) -> None:
        """Record a warning (deduplicated)."""
        if text not in self.warnings:
            self.warnings.append(text)


def weights_text(arch: ModelArch, precision: str, *, nf4: bool = False) -> str:
    """How the weights were counted, for an assumption."""
    w = memory.weights(arch, precision, nf4=nf4)
    if nf4:
        scheme = f"NF4 ({memory.NF4_BYTES:.4f} B/weight: 4 bits + 8-bit absmax per 64, double-quantized)"
    elif precision == "INT4":
        scheme = f"4-bit GPTQ/AWQ-style ({memory.LINEAR_BYTES['INT4']:.4f} B/weight: FP16 scale + 4-bit zero per 128)"
    else:
        scheme = f"{memory.LINEAR_BYTES[precision]:g} B/weight"
    return (
        f"Weights: {arch.linear_params() / 1e9:.2f}B linear-layer parameters at {scheme} + "
        f"{(arch.total_params() - arch.linear_params()) / 1e9:.2f}B embedding/head/norm parameters at "
        f"{memory.EMBED_BYTES.get(precision, 2.0):g} B = {w.total_gb:.2f} GB "
        f"({w.total_gb * 1e9 / arch.total_params():.3f} B/param on average)."
    )
