"""The ``distill`` trainer: a student learns from a frozen teacher.

Loss per batch, over the tokens that carry a label (assistant turns of chat data, every
token of text data)::

    alpha * KL(teacher_T || student_T) * T^2  +  (1 - alpha) * CE(student, labels)
    + hidden_weight * mean_i MSE(proj_i(student_hidden[s_i]), teacher_hidden[t_i])

where ``x_T = softmax(logits / T)`` - ``nnf.kl_div(log student_T, teacher_T)``, Hinton et
al.'s soft-label loss, the term SDD 8.1 writes as ``KL(p_s, p_t) * T^2``. The teacher runs
in eval mode under ``torch.no_grad``; its parameters never receive gradients. Feature
distillation learns one linear projection per layer pair (student width -> teacher width);
the projections are trained with the student and saved in each checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from lf.components import Events, TrainResult
from lf.errors import ConfigError
from lf_trainer_distill.config import DistillConfig
from lf_trainer_sft.trainer_kit import BaseTrainJob

PROJECTIONS_FILE = "distill_projections.safetensors"


def distillation_loss(
    student_logits: Any, teacher_logits: Any, labels: Any, *, temperature: float, alpha: float
) -> tuple[Any, Any, Any]:
    """``(loss, kl, ce)`` over next-token positions whose label is not -100."""
    import torch.nn.functional as nnf

    s = student_logits[:, :-1]
    t = teacher_logits[:, :-1]
    y = labels[:, 1:]
    mask = y != -100
    s, t, y = s[mask].float(), t[mask].float(), y[mask]
    ce = nnf.cross_entropy(s, y)
    kl = nnf.kl_div(
        nnf.log_softmax(s / temperature, dim=-1),
        nnf.log_softmax(t / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",
    ) * (temperature**2)
    return alpha * kl + (1 - alpha) * ce, kl, ce


def compare_vocabularies(student: Any, teacher: Any) -> None:
    """Raise :class:`ConfigError` when the two tokenizers map tokens to different ids."""
    sv, tv = student.get_vocab(), teacher.get_vocab()
    if sv == tv:
        return
    example = next((tok for tok, i in sorted(sv.items(), key=lambda kv: kv[1]) if tv.get(tok) != i), None)
    detail = ""
    if example is not None:
        detail = (
            f"; e.g. {example!r} is id {sv[example]} for the student and {tv.get(example, 'absent')} for the teacher"
        )
    raise ConfigError(
        f"The student's and the teacher's vocabularies differ ({len(sv)} vs {len(tv)} tokens{detail}): "
        "logit distillation compares the two distributions token by token, so they must share one tokenizer.",
        hint="Pick a student and a teacher from the same model family (same tokenizer).",
    )


def _trainer_class() -> Any:
    from lf_trainer_distill.kd_trainer import KDTrainer

    return KDTrainer


class DistillTrainer(BaseTrainJob):
    """Knowledge distillation; ``DistillTrainer().run(DistillConfig(...), events)``."""

    component: ClassVar[str] = "distill"
    shape: ClassVar[str] = "chat"

    def run(self, config: DistillConfig, events: Events) -> TrainResult:
        """Train; see :class:`~lf_trainer_distill.config.DistillConfig` for every option."""
        self.data_shape = _data_shape(config.data, config.format)
        return super().run(config, events)

    def load_data(self) -> tuple[Any, Any | None]:
        """Chat or text data, whichever the file holds (validated before any model loads)."""
        self.shape = self.data_shape  # type: ignore[misc]
        return super().load_data()

    def _load_tokenizer(self, model_path: str) -> Any:
        from lf.models import resolve_model
        from lf_trainer_sft.trainer_kit import load_tokenizer

        student = load_tokenizer(model_path)
        self.teacher_path = resolve_model(self.config.teacher, events=self.events)
        compare_vocabularies(student, load_tokenizer(self.teacher_path))
        return student

    def _resolved_extra(self) -> dict[str, Any]:
        """Where the teacher was loaded from, and the data shape read from the file."""
        return {"teacher": self.teacher_path, "data_shape": self.data_shape}

    def _data_options(self) -> dict[str, Any]:
        c = self.config
        return {"max_length": c.max_length, "train_on": c.train_on, "shape": self.data_shape}

    def _fingerprint(self) -> dict[str, str]:
        from lf_trainer_sft.trainer_kit import model_identity

        out = super()._fingerprint()
        out["teacher"] = model_identity(self.teacher_path)
        out["hidden_layers"] = str([list(p) for p in self.config.hidden_layers])
        return out

    def _prepare_datasets(self, train: Any, evals: Any | None, tokenizer: Any) -> tuple[Any, Any | None]:
        c = self.config
        if self.data_shape == "text":
            from lf_trainer_sft.trainer_kit import group_texts

            return group_texts(train, tokenizer, c.max_length), (
                group_texts(evals, tokenizer, c.max_length) if evals is not None else None
            )
        from lf_trainer_sft.trainer_kit import tokenize_dataset

        train = tokenize_dataset(train, tokenizer, max_length=c.max_length, train_on=c.train_on)
        evals = tokenize_dataset(evals, tokenizer, max_length=c.max_length, train_on=c.train_on) if evals else None
        return train, evals

    def _load_model(self, model_path: str, tokenizer: Any) -> Any:
        from lf_trainer_sft.trainer_kit import load_model

        c = self.config
        student = super()._load_model(model_path, tokenizer)
        teacher = load_model(self.teacher_path, dtype=c.dtype, attn_implementation=c.attn_implementation)
        teacher.eval().requires_grad_(False)
        self.teacher = teacher
        self.projections = self._projections(student, teacher)
        return student

    def _projections(self, student: Any, teacher: Any) -> Any:
        import torch

        pairs = self.config.hidden_layers
        if not pairs:
            return None
        s_layers = student.config.get_text_config().num_hidden_layers
        t_layers = teacher.config.get_text_config().num_hidden_layers
        for si, ti in pairs:
            if not (0 <= si <= s_layers and 0 <= ti <= t_layers):
                raise ConfigError(
                    f"hidden_layers pair [{si}, {ti}] is out of range: the student has layers 0..{s_layers} "
                    f"and the teacher 0..{t_layers} (0 = embeddings)."
                )
        s_width = student.config.get_text_config().hidden_size
        t_width = teacher.config.get_text_config().hidden_size
        torch.manual_seed(self.config.seed)
        return torch.nn.ModuleList(torch.nn.Linear(s_width, t_width, bias=False) for _ in pairs)

    def _build_trainer(self, model: Any, tokenizer: Any, train: Any, evals: Any | None, callbacks: list[Any]) -> Any:
        from transformers import TrainingArguments
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        args = TrainingArguments(**self.training_args(has_eval=evals is not None), remove_unused_columns=False)
        return _trainer_class()(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evals,
            processing_class=tokenizer,
            data_collator=DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id),
            callbacks=callbacks,
            teacher=self.teacher,
            settings=self.config,
            projections=self.projections,
        )

    def _extra_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key in ("kl", "ce", "hidden_mse"):
            values = [r[key] for r in records if key in r]
            if values:
                out[f"first_{key}"], out[f"last_{key}"] = float(values[0]), float(values[-1])
        return out


def _data_shape(data: str, format: str | None) -> str:
    """``text`` for text files, else ``chat`` (chat formats; hub datasets default to chat)."""
    if not Path(data).is_file():
        return "chat"
    from lf.data import detect_file_format, get_format

    try:
        fmt = get_format(format) if format else detect_file_format(data)
    except Exception:
        return "chat"  # load_for_training reports the real problem with the file
    return "text" if fmt.shape == "text" else "chat"
