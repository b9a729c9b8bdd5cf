"""The public API other trainers build on: what lf-trainer-dpo and lf-trainer-distill use of this package.

A trainer that depends on ``lf-trainer-sft`` imports from here - never from its other
modules, which may change. Heavy imports (torch, transformers, TRL, PEFT) happen inside
the functions, so importing this module stays cheap.

* :class:`BaseTrainJob` - the training run every lf trainer shares: config checks, data,
  model (LoRA/QLoRA), callbacks and lifecycle hooks, checkpoints and resume, outputs;
  a trainer subclasses it and builds its TRL trainer.
* :class:`TrainConfigBase`, :data:`MIN_LENGTH`, :data:`PositiveFloat` - the shared options.
* :func:`load_model`, :func:`load_tokenizer`, :func:`peft_config` - loading as the sft trainer does.
* :func:`check_model` - the model-name check of ``validate()`` (``tiny``, ``smollm2``, directories, hub ids).
* :func:`tokenize_dataset`, :func:`group_texts` - chat tokenization with the trained-token mask; text blocks.
* :func:`model_identity` - what a checkpoint records of its model (resume checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

#: Where each name lives; imported on first use (a trainer's config module stays cheap to register).
_WHERE = {
    "MIN_LENGTH": "config",
    "PositiveFloat": "config",
    "TrainConfigBase": "config",
    "BaseTrainJob": "runtime",
    "check_model": "checks",
    "group_texts": "pretrain",
    "load_model": "models",
    "load_tokenizer": "models",
    "model_identity": "checkpoints",
    "peft_config": "models",
    "tokenize_dataset": "chat",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lf_trainer_sft.trainer_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lf_trainer_sft.{module}"), name)
    globals()[name] = value
    return value
