"""LargeForge trainers ``sft`` and ``pretrain``, ``lf merge lora`` and ``lf data preview``.

Registration only: torch, transformers, TRL and PEFT are imported when a component runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_trainer_sft.config import PretrainConfig, SFTConfig

if TYPE_CHECKING:
    import typer

__all__ = ["PretrainConfig", "SFTConfig"]


@hookimpl
def register_trainers(register: Register) -> None:
    """Register ``sft`` and ``pretrain``."""
    register(
        ComponentSpec(
            kind="train",
            name="sft",
            summary="Supervised fine-tuning on chat data (full, LoRA, QLoRA)",
            config=SFTConfig,
            impl="lf_trainer_sft.sft:SFTTrainer",
            positionals=("model", "data"),
        )
    )
    register(
        ComponentSpec(
            kind="train",
            name="pretrain",
            summary="Continued pretraining on text, grouped into blocks",
            config=PretrainConfig,
            impl="lf_trainer_sft.pretrain:PretrainTrainer",
            positionals=("model", "data"),
        )
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``lf merge lora`` and ``lf data preview`` (their bodies import the heavy modules)."""
    from lf_trainer_sft.cli import add_commands

    add_commands(app)
