"""Config of the ``distill`` trainer (msgspec only)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from lf_trainer_sft.config import TrainConfigBase


def _d(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class DistillConfig(TrainConfigBase, kw_only=True, forbid_unknown_fields=True):
    """Knowledge distillation: a student learns from a frozen teacher's soft labels."""

    model: Annotated[str, _d("The student model (directory, hub id or shorthand such as 'tiny'). Required.")]
    teacher: Annotated[str, _d("The teacher model; frozen, and it must share the student's vocabulary. Required.")]
    output_dir: Annotated[str, _d("Where checkpoints, the log and the final model go.")] = "runs/distill"
    method: Annotated[Literal["lora", "full"], _d("Train the whole student or a LoRA adapter on it.")] = "full"
    temperature: Annotated[float, _d("Softmax temperature T for both models' logits.")] = 2.0
    alpha: Annotated[
        float, _d("Weight of the distillation term: alpha * KL * T^2 + (1 - alpha) * cross-entropy on labels.")
    ] = 0.5
    hidden_layers: Annotated[
        list[tuple[int, int]],
        _d(
            "Feature distillation: [student_layer, teacher_layer] pairs of hidden states (0 = embeddings) matched "
            "with MSE through a learned linear projection; empty: logits only."
        ),
    ] = msgspec.field(default_factory=list)
    hidden_weight: Annotated[float, _d("Weight of the hidden-state (feature) loss.")] = 1.0
    train_on: Annotated[
        Literal["assistant", "all"], _d("Chat data: distill on assistant turns only, or every token.")
    ] = "assistant"
