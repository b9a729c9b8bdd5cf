"""The ``pretrain`` trainer: continued pretraining on ``text`` records, grouped into blocks.

Texts are tokenized, each followed by EOS, concatenated and cut into ``block_size`` blocks
(the tail shorter than a block is dropped, unless it is all there is); the loss covers
every token.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lf.components import Events, TrainResult
from lf_trainer_sft.config import PretrainConfig
from lf_trainer_sft.runtime import BaseTrainJob


def group_texts(dataset: Any, tokenizer: Any, block_size: int) -> Any:
    """A dataset of ``input_ids``/``labels`` blocks of ``block_size`` tokens from a ``text`` dataset."""
    eos = tokenizer.eos_token_id

    def tokenize(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        return {"ids": [[*x, eos] if eos is not None else x for x in ids]}

    def group(batch: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
        flat = [t for ids in batch["ids"] for t in ids]
        usable = (len(flat) // block_size) * block_size or len(flat)
        blocks = [flat[i : i + block_size] for i in range(0, usable, block_size)]
        return {"input_ids": blocks, "labels": [list(b) for b in blocks]}

    from lf_trainer_sft.chat import progress

    columns = list(dataset.column_names or ["text"])
    tokens = dataset.map(tokenize, batched=True, remove_columns=columns, **progress(dataset, "Tokenizing text"))
    return tokens.map(
        group, batched=True, batch_size=1000, remove_columns=["ids"], **progress(dataset, "Grouping into blocks")
    )


class PretrainTrainer(BaseTrainJob):
    """Continued pretraining (full or LoRA); ``PretrainTrainer().run(PretrainConfig(...), events)``."""

    component: ClassVar[str] = "pretrain"
    shape: ClassVar[str] = "text"

    def run(self, config: PretrainConfig, events: Events) -> TrainResult:
        """Train; see :class:`~lf_trainer_sft.config.PretrainConfig` for every option."""
        return super().run(config, events)

    def _data_options(self) -> dict[str, Any]:
        return {"block_size": self.config.block_size}

    def _prepare_datasets(self, train: Any, evals: Any | None, tokenizer: Any) -> tuple[Any, Any | None]:
        block = self.config.block_size
        train = group_texts(train, tokenizer, block)
        evals = group_texts(evals, tokenizer, block) if evals is not None else None
        return train, evals

    def _build_trainer(self, model: Any, tokenizer: Any, train: Any, evals: Any | None, callbacks: list[Any]) -> Any:
        from trl import SFTConfig as TRLConfig
        from trl import SFTTrainer as TRLTrainer

        args = TRLConfig(**self.training_args(has_eval=evals is not None), max_length=self.config.block_size)
        return TRLTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evals,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
