"""The GPU catalog and price list: the shipped data file, merged with a user's own file.

``data/hardware.json`` holds, per GPU, its memory, memory bandwidth, DENSE tensor throughput
per dtype and interconnect (each with its datasheet URL), and on-demand prices per provider
(each with the date read and the source). A user file of the same shape (``--hardware FILE``
or ``LF_PLAN_HARDWARE``) adds GPUs and prices or replaces them by name / (provider, gpu).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import msgspec

from lf.errors import ConfigError

DATA_FILE = Path(__file__).with_name("data") / "hardware.json"
ENV_VAR = "LF_PLAN_HARDWARE"


class Interconnect(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How GPUs of a server talk to each other."""

    name: str
    bandwidth_gbps: float


class GPU(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One GPU type (dense throughput, never the 2:4-sparsity figures)."""

    name: str
    memory_gb: float
    memory_bandwidth_gbps: float
    dense_tflops: dict[str, float]
    interconnect: Interconnect
    source: str
    aliases: list[str] = []
    vendor: str = ""
    form_factor: str = ""
    notes: str = ""

    def tflops(self, dtype: str) -> float | None:
        """Dense peak for ``dtype`` (fp32, tf32, bf16, fp16, fp8, int8), or None when unsupported."""
        value = self.dense_tflops.get(dtype)
        if value is None and dtype in ("bf16", "fp16"):
            value = self.dense_tflops.get("fp16") or self.dense_tflops.get("bf16")
        return value


class Price(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An on-demand price, with where and when it was read."""

    provider: str
    gpu: str
    usd_per_gpu_hour: float
    read_on: str
    source: str
    product: str = ""


class Infrastructure(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Non-GPU unit prices used by the monthly total."""

    storage_usd_per_gb_month: float = 0.0
    egress_usd_per_gb: float = 0.0
    load_balancer_usd_per_hour: float = 0.0
    source: str = ""


class HardwareFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The file format (``lf-plan-hardware/v1``)."""

    format: str = "lf-plan-hardware/v1"
    notes: list[str] = []
    gpus: list[GPU] = []
    prices: list[Price] = []
    infrastructure: Infrastructure | None = None


class Catalog:
    """GPUs and prices, looked up by name (case-insensitive, aliases too)."""

    def __init__(self, data: HardwareFile, digest: str, sources: list[str]) -> None:
        self.gpus: dict[str, GPU] = {g.name: g for g in data.gpus}
        self.prices: list[Price] = list(data.prices)
        self.infrastructure = data.infrastructure or Infrastructure()
        self.digest = digest
        self.sources = sources
        self._index: dict[str, str] = {}
        for gpu in data.gpus:
            for key in (gpu.name, *gpu.aliases):
                self._index[_key(key)] = gpu.name

    def gpu(self, name: str) -> GPU:
        """The GPU called ``name`` (or an alias); an unknown name lists the known ones."""
        found = self._index.get(_key(name))
        if found is None:
            names = sorted(self.gpus)
            close = difflib.get_close_matches(name, names + sorted(self._index), n=1)
            hint = (f"Did you mean '{self._index.get(_key(close[0]), close[0])}'? " if close else "") + (
                "Known GPU types: " + ", ".join(names) + ". Add your own with --hardware FILE."
            )
            raise ConfigError(f"Unknown GPU type '{name}'.", hint=hint)
        return self.gpus[found]

    def providers(self) -> list[str]:
        """Providers that have at least one price."""
        return sorted({p.provider for p in self.prices})

    def price(self, gpu: str, provider: str | None) -> Price | None:
        """The price of ``gpu`` at ``provider``; without a provider, the cheapest one listed."""
        rows = [p for p in self.prices if p.gpu == gpu and (provider is None or p.provider == provider.lower())]
        return min(rows, key=lambda p: (p.usd_per_gpu_hour, p.provider)) if rows else None

    def check_provider(self, provider: str | None) -> None:
        """Reject a provider with no prices at all, naming the ones that have some."""
        if provider is not None and provider.lower() not in self.providers():
            raise ConfigError(
                f"No prices for cloud provider '{provider}' in the hardware file.",
                hint="Providers with prices: " + ", ".join(self.providers()) + ". Add yours with --hardware FILE.",
            )


def _key(name: str) -> str:
    return name.lower().replace("_", "-").replace(" ", "-")


def load_catalog(user_file: str | os.PathLike[str] | None = None) -> Catalog:
    """The shipped catalog, merged with ``user_file`` (or ``$LF_PLAN_HARDWARE``) when given."""
    path = user_file or os.environ.get(ENV_VAR) or None
    if not path:
        return _load(None, 0, 0)
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)
    return _load(str(path), *stamp)


@lru_cache(maxsize=8)
def _load(user_file: str | None, mtime_ns: int, size: int) -> Catalog:
    """Parse (once per file version) and merge."""
    raw = DATA_FILE.read_bytes()
    base = _decode(raw, str(DATA_FILE))
    digest = hashlib.sha256(raw)
    sources = [f"lf-planner/{DATA_FILE.name}"]
    if user_file:
        path = Path(user_file)
        if not path.is_file():
            raise ConfigError(
                f"Hardware file not found: {path}",
                hint="Pass a JSON file shaped like lf_planner/data/hardware.json (see `lf plan gpus --json`).",
            )
        extra_raw = path.read_bytes()
        extra = _decode(extra_raw, str(path))
        digest.update(extra_raw)
        sources.append(str(path))
        base = merge(base, extra)
    return Catalog(base, digest.hexdigest()[:16], sources)


def _decode(raw: bytes, source: str) -> HardwareFile:
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    try:
        return msgspec.json.decode(raw, type=HardwareFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"{source}: not a valid hardware file: {exc}",
            hint="Each GPU needs name, memory_gb, memory_bandwidth_gbps, dense_tflops, interconnect and source; "
            "each price needs provider, gpu, usd_per_gpu_hour, read_on and source.",
        ) from None


def merge(base: HardwareFile, extra: HardwareFile) -> HardwareFile:
    """``extra`` over ``base``: GPUs by name, prices by (provider, gpu), infrastructure whole."""
    gpus = {g.name: g for g in base.gpus}
    gpus.update({g.name: g for g in extra.gpus})
    prices = {(p.provider, p.gpu): p for p in base.prices}
    prices.update({(p.provider, p.gpu): p for p in extra.prices})
    unknown = sorted({p.gpu for p in prices.values()} - set(gpus))
    if unknown:
        raise ConfigError(
            f"Prices name GPU types that are not in the catalog: {', '.join(unknown)}.",
            hint="Add those GPUs under 'gpus' in your hardware file, or fix the names.",
        )
    return HardwareFile(
        format=base.format,
        notes=base.notes,
        gpus=list(gpus.values()),
        prices=list(prices.values()),
        infrastructure=extra.infrastructure or base.infrastructure,
    )
