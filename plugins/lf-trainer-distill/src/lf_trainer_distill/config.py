"""Config of the ``distill`` trainer (msgspec only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from lf_trainer_sft.trainer_kit import TrainConfigBase

#: A layer index: 0 (the embeddings) or more.
Layer = Annotated[int, msgspec.Meta(ge=0)]


def _d(text: str, **limits: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **limits)


class DistillConfig(TrainConfigBase, kw_only=True, forbid_unknown_fields=True):
    """Knowledge distillation: a student learns from a frozen teacher's soft labels."""

    model: Annotated[str, _d("The student model (directory, hub id or shorthand such as 'tiny'). Required.")]
    teacher: Annotated[str, _d("The teacher model; frozen, and it must share the student's vocabulary. Required.")]
    output_dir: Annotated[str, _d("Where checkpoints, the log and the final model go.")] = "runs/distill"
    method: Annotated[Literal["lora", "full"], _d("Train the whole student or a LoRA adapter on it.")] = "full"
    temperature: Annotated[float, _d("Softmax temperature T for both models' logits.", gt=0)] = 2.0
    alpha: Annotated[
        float,
        _d("Weight of the distillation term: alpha * KL * T^2 + (1 - alpha) * cross-entropy on labels.", ge=0, le=1),
    ] = 0.5
    hidden_layers: Annotated[
        list[tuple[Layer, Layer]],
        _d(
            "Feature distillation: [student_layer, teacher_layer] pairs of hidden states (0 = embeddings) matched "
            "with MSE through a learned linear projection; empty: logits only."
        ),
    ] = msgspec.field(default_factory=list)
    hidden_weight: Annotated[float, _d("Weight of the hidden-state (feature) loss.", ge=0)] = 1.0
    train_on: Annotated[
        Literal["assistant", "all"], _d("Chat data: distill on assistant turns only, or every token.")
    ] = "assistant"

    def validate(self) -> None:
        """The shared checks, and the teacher's name."""
        super().validate()
        from lf_trainer_sft.trainer_kit import check_model

        check_model("teacher", self.teacher)
