"""LargeForge preference trainers ``dpo`` and ``orpo`` (registration only)."""

from __future__ import annotations

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_trainer_dpo.config import DPOConfig, ORPOConfig

__all__ = ["DPOConfig", "ORPOConfig"]


@hookimpl
def register_trainers(register: Register) -> None:
    """Register ``dpo`` and ``orpo``."""
    register(
        ComponentSpec(
            kind="train",
            name="dpo",
            summary="Direct Preference Optimization (sigmoid, hinge, ipo) from an SFT model",
            config=DPOConfig,
            impl="lf_trainer_dpo.dpo:DPOTrainer",
            positionals=("model", "data"),
        )
    )
    register(
        ComponentSpec(
            kind="train",
            name="orpo",
            summary="Odds Ratio Preference Optimization (no reference model)",
            config=ORPOConfig,
            impl="lf_trainer_dpo.dpo:ORPOTrainer",
            positionals=("model", "data"),
        )
    )
