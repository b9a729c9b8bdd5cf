"""Configs of the ``dpo`` and ``orpo`` trainers (msgspec only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from lf_trainer_sft.trainer_kit import MIN_LENGTH, PositiveFloat, TrainConfigBase


def _d(text: str, **limits: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **limits)


class DPOConfig(TrainConfigBase, kw_only=True, forbid_unknown_fields=True):
    """Direct Preference Optimization on prompt/chosen/rejected records."""

    model: Annotated[
        str,
        _d(
            "The policy to start from: usually an `lf train sft` output directory (a LoRA adapter is merged into "
            "its base first; a merged model loads as is), or any model/shorthand. Required."
        ),
    ]
    output_dir: Annotated[str, _d("Where checkpoints, the log and the final model go.")] = "runs/dpo"
    max_length: Annotated[int, _d("Longest prompt + reply in tokens; longer pairs are truncated.", ge=MIN_LENGTH)] = (
        1024
    )
    max_prompt_length: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        _d(
            "Longest prompt in tokens; a longer one loses its start (the end, next to the reply, is kept) and one "
            "warning counts the pairs cut. Must be below max_length. null: 512, at most half of max_length."
        ),
    ] = None
    max_completion_length: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        _d("Longest chosen/rejected reply in tokens; a longer one loses its end. null: what max_length leaves."),
    ] = None
    learning_rate: Annotated[PositiveFloat | None, _d("Peak learning rate; null: 5e-6 with LoRA, 5e-7 full.")] = None
    beta: Annotated[float, _d("How far the policy may move from the reference (higher: less).", gt=0)] = 0.1
    loss_type: Annotated[Literal["sigmoid", "hinge", "ipo"], _d("DPO loss: sigmoid (DPO), hinge (SLiC), ipo.")] = (
        "sigmoid"
    )
    label_smoothing: Annotated[
        float,
        _d("Probability that a preference label is wrong (robust DPO; sigmoid loss only).", ge=0, lt=0.5),
    ] = 0.0
    reference_free: Annotated[bool, _d("Ignore the reference model (an implicit uniform reference).")] = False
    ref_model: Annotated[
        str | None,
        _d(
            "A separate frozen reference model; null: the starting policy (under LoRA: the adapter disabled, "
            "no second copy in memory)."
        ),
    ] = None

    def validate(self) -> None:
        """The shared checks, then the loss and reference options that exclude each other."""
        super().validate()
        from lf.config import invalid
        from lf_trainer_sft.trainer_kit import check_model

        if self.label_smoothing and self.loss_type != "sigmoid":
            raise invalid(
                ("label_smoothing", "loss_type"),
                f"label_smoothing applies to the sigmoid loss only, not {self.loss_type}.",
                hint="Set loss_type: sigmoid, or label_smoothing: 0.",
            )
        if self.max_prompt_length is not None and self.max_prompt_length >= self.max_length:
            raise invalid(
                ("max_prompt_length", "max_length"),
                f"max_prompt_length ({self.max_prompt_length}) must be below max_length ({self.max_length}): "
                "a prompt that fills max_length leaves no room for the reply.",
                hint="Lower max_prompt_length, raise max_length, or set max_prompt_length: null (512, at most half).",
            )
        if self.reference_free and self.ref_model:
            raise invalid(
                ("reference_free", "ref_model"), "reference_free: true and ref_model exclude each other; choose one."
            )
        check_model("ref_model", self.ref_model)


class ORPOConfig(TrainConfigBase, kw_only=True, forbid_unknown_fields=True):
    """Odds Ratio Preference Optimization: SFT and preference in one loss, no reference model."""

    output_dir: Annotated[str, _d("Where checkpoints, the log and the final model go.")] = "runs/orpo"
    max_length: Annotated[int, _d("Longest prompt + reply in tokens; longer pairs are truncated.", ge=MIN_LENGTH)] = (
        1024
    )
    learning_rate: Annotated[PositiveFloat | None, _d("Peak learning rate; null: 5e-5 with LoRA, 5e-6 full.")] = None
    beta: Annotated[float, _d("Weight of the odds-ratio term against the NLL term (lambda in the paper).", gt=0)] = 0.1
