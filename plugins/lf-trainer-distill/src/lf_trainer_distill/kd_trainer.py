"""The transformers Trainer behind ``distill`` (imported only when a run starts: it subclasses Trainer).

Its loss distills the frozen ``teacher`` into the model (see :func:`.distill.distillation_loss`),
optionally with hidden-state matching through learned projections, which are saved in and
restored from every checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from lf_trainer_distill.config import DistillConfig
from lf_trainer_distill.distill import PROJECTIONS_FILE, distillation_loss


class KDTrainer(Trainer):
    """A transformers Trainer whose loss distills ``teacher`` into the model."""

    def __init__(self, *args: Any, teacher: Any, settings: DistillConfig, projections: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.teacher = teacher
        self.settings = settings
        self.projections = projections
        self._parts: dict[str, list[float]] = {"kl": [], "ce": [], "hidden_mse": []}

    def create_optimizer(self, model: Any = None) -> Any:
        """The Trainer's optimizer, plus a parameter group for the feature projections."""
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        if self.projections is not None and len(self.projections):
            optimizer.add_param_group({"params": list(self.projections.parameters()), "weight_decay": 0.0})
        return optimizer

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """``alpha * KL * T^2 + (1 - alpha) * CE`` (+ ``hidden_weight`` * the feature MSE)."""
        labels = inputs.pop("labels")
        hidden = bool(self.settings.hidden_layers)
        outputs = model(**inputs, output_hidden_states=hidden)
        device = outputs.logits.device
        if next(self.teacher.parameters()).device != device:
            self.teacher.to(device)
        if self.projections is not None and next(self.projections.parameters()).device != device:
            self.projections.to(device)
        with torch.no_grad():
            teacher_out = self.teacher(**inputs, output_hidden_states=hidden)
        vocab = min(outputs.logits.shape[-1], teacher_out.logits.shape[-1])
        loss, kl, ce = distillation_loss(
            outputs.logits[..., :vocab],
            teacher_out.logits[..., :vocab],
            labels,
            temperature=self.settings.temperature,
            alpha=self.settings.alpha,
        )
        self._parts["kl"].append(float(kl.detach()))
        self._parts["ce"].append(float(ce.detach()))
        if hidden:
            mask = inputs.get("attention_mask")
            mses = []
            for proj, (si, ti) in zip(self.projections, self.settings.hidden_layers, strict=True):
                hs, ht = outputs.hidden_states[si], teacher_out.hidden_states[ti]
                if mask is not None:
                    hs, ht = hs[mask.bool()], ht[mask.bool()]
                mses.append(torch.nn.functional.mse_loss(proj(hs.float()), ht.float()))
            feature = torch.stack(mses).mean()
            self._parts["hidden_mse"].append(float(feature.detach()))
            loss = loss + self.settings.hidden_weight * feature
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the mean KL, CE and hidden-state MSE since the last log to it."""
        if "loss" in logs:
            for key, values in self._parts.items():
                if values:
                    logs[key] = sum(values) / len(values)
                    values.clear()
        super().log(logs, start_time)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        if self.projections is not None and len(self.projections) and self.args.should_save:
            from safetensors.torch import save_file

            folder = Path(str(self.args.output_dir)) / f"checkpoint-{self.state.global_step}"
            state = {k: v.detach().cpu().contiguous() for k, v in self.projections.state_dict().items()}
            save_file(state, str(folder / PROJECTIONS_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = Path(resume_from_checkpoint) / PROJECTIONS_FILE
        if self.projections is not None and path.is_file():
            from safetensors.torch import load_file

            self.projections.load_state_dict(load_file(str(path)))
