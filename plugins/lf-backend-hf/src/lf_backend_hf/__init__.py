"""LargeForge inference backend ``hf``: transformers, continuous batching, streaming, LoRA."""

from __future__ import annotations

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_backend_hf.config import HFConfig

__all__ = ["HFConfig"]


@hookimpl
def register_backends(register: Register) -> None:
    """Register the ``hf`` backend (alias ``transformers``)."""
    register(
        ComponentSpec(
            kind="serve",
            name="hf",
            summary="transformers on any machine: continuous batching, streaming, LoRA adapters",
            config=HFConfig,
            impl="lf_backend_hf.backend:HFBackend",
            aliases=("transformers",),
        )
    )
