"""KTO preference tuning: registration only (imports nothing heavy)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl


class KTOConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of the KTO trainer (`lf config show train kto`)."""

    model: Annotated[str, msgspec.Meta(description="The model to tune: a directory (e.g. an SFT output)")]
    data: Annotated[str, msgspec.Meta(description="Preference data: prompt/chosen/rejected records")]
    output_dir: Annotated[str, msgspec.Meta(description="Where the tuned model goes")] = "out-kto"
    max_steps: Annotated[int, msgspec.Meta(ge=1, description="Optimizer steps")] = 50
    learning_rate: Annotated[float, msgspec.Meta(gt=0, description="Learning rate")] = 5e-6
    beta: Annotated[float, msgspec.Meta(gt=0, description="KTO's beta: how far from the reference model")] = 0.1
    batch_size: Annotated[
        int, msgspec.Meta(ge=2, description="Examples per step (KTO needs both kinds in a batch)")
    ] = 4
    desirable_weight: Annotated[float, msgspec.Meta(gt=0, description="Weight of good answers")] = 1.0
    undesirable_weight: Annotated[float, msgspec.Meta(gt=0, description="Weight of bad answers")] = 1.0
    max_length: Annotated[int, msgspec.Meta(ge=16, description="Tokens per example")] = 512
    seed: Annotated[int, msgspec.Meta(description="Random seed")] = 0


@hookimpl
def register_trainers(register: Register) -> None:
    """The `kto` trainer."""
    register(
        ComponentSpec(
            kind="train",
            name="kto",
            summary="KTO preference tuning from unpaired good/bad answers (TRL)",
            config=KTOConfig,
            impl="lf_trainer_kto.trainer:KTOTrainerJob",
            positionals=("model", "data"),
        )
    )
