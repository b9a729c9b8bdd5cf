"""The ``sft`` trainer: supervised fine-tuning on chat data with TRL's SFTTrainer.

lf tokenizes the conversations itself (see :mod:`lf_trainer_sft.chat`: the loss mask covers
assistant replies and their end-of-turn token for any chat template) and hands TRL a
dataset of ``input_ids``/``labels``; TRL then truncates, packs (best-fit decreasing,
padding-free, attention kept inside each example) and batches.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lf.components import Events, TrainResult
from lf_trainer_sft.collate import PackedRowsCollator, needs_row_packing
from lf_trainer_sft.config import SFTConfig
from lf_trainer_sft.runtime import BaseTrainJob


class SFTTrainer(BaseTrainJob):
    """Supervised fine-tuning (full, LoRA, QLoRA); ``SFTTrainer().run(SFTConfig(...), events)``."""

    component: ClassVar[str] = "sft"
    shape: ClassVar[str] = "chat"

    def run(self, config: SFTConfig, events: Events) -> TrainResult:
        """Train; see :class:`~lf_trainer_sft.config.SFTConfig` for every option."""
        return super().run(config, events)

    def _data_options(self) -> dict[str, Any]:
        c = self.config
        return {
            "max_length": c.max_length,
            "train_on": c.train_on,
            "packing": c.packing,
            "group_by_length": c.group_by_length,
            "chat_template": "custom" if c.chat_template else "tokenizer",
        }

    def _resolved_extra(self) -> dict[str, Any]:
        """Which chat template the run uses (``chat_template: null`` leaves it to the tokenizer)."""
        from lf_trainer_sft.chat import FALLBACK_CHAT_TEMPLATE

        tok = self.tokenizer
        if self.config.chat_template:
            return {"chat_template": "the configured one"}
        fallbacks = (FALLBACK_CHAT_TEMPLATE, FALLBACK_CHAT_TEMPLATE.replace("<|im_end|>", tok.eos_token or "</s>"))
        chatml = tok.chat_template in fallbacks
        return {"chat_template": "ChatML (the tokenizer has none)" if chatml else "the tokenizer's"}

    def _prepare_datasets(self, train: Any, evals: Any | None, tokenizer: Any) -> tuple[Any, Any | None]:
        from lf_trainer_sft.chat import tokenize_dataset

        c = self.config
        train = tokenize_dataset(train, tokenizer, max_length=c.max_length, train_on=c.train_on)
        if len(train) == 0 if hasattr(train, "__len__") else next(iter(train), None) is None:  # a stream: peek
            from lf.errors import DataError

            raise DataError(
                f"{c.data}: no example has an assistant reply left to learn from (after truncation to "
                f"max_length={c.max_length}).",
                hint="Check the data with `lf data preview FILE --tokenizer MODEL`, or raise max_length.",
            )
        if evals is not None:
            evals = tokenize_dataset(evals, tokenizer, max_length=c.max_length, train_on=c.train_on)
            evals = evals if len(evals) else None
        return train, evals

    def _build_trainer(self, model: Any, tokenizer: Any, train: Any, evals: Any | None, callbacks: list[Any]) -> Any:
        from trl import SFTConfig as TRLConfig
        from trl import SFTTrainer as TRLTrainer

        c = self.config
        args = TRLConfig(
            **self.training_args(has_eval=evals is not None),
            max_length=c.max_length if c.packing or not c.padding_free else None,
            packing=c.packing,
            padding_free=c.padding_free,
            train_sampling_strategy="group_by_length" if c.group_by_length else "random",
            dataset_num_proc=None,
        )
        trainer = TRLTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evals,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
        if c.packing and needs_row_packing(model):
            trainer.data_collator = PackedRowsCollator(pad_token_id=tokenizer.pad_token_id)
        return trainer
