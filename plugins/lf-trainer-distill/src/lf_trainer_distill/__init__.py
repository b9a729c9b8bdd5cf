"""LargeForge trainer ``distill`` (registration only)."""

from __future__ import annotations

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_trainer_distill.config import DistillConfig

__all__ = ["DistillConfig"]


@hookimpl
def register_trainers(register: Register) -> None:
    """Register ``distill``."""
    register(
        ComponentSpec(
            kind="train",
            name="distill",
            summary="Knowledge distillation from a frozen teacher (logits and hidden states)",
            config=DistillConfig,
            impl="lf_trainer_distill.distill:DistillTrainer",
            positionals=("model", "teacher", "data"),
        )
    )
