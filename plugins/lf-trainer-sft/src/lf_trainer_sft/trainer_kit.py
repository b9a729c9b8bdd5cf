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

if TYPE_CHECKING:  # the names, for type checkers (re-exported: `import x as x`)
    from lf_trainer_sft.chat import tokenize_dataset as tokenize_dataset
    from lf_trainer_sft.checkpoints import model_identity as model_identity
    from lf_trainer_sft.checks import check_model as check_model
    from lf_trainer_sft.config import MIN_LENGTH as MIN_LENGTH
    from lf_trainer_sft.config import PositiveFloat as PositiveFloat
    from lf_trainer_sft.config import TrainConfigBase as TrainConfigBase
    from lf_trainer_sft.models import load_model as load_model
    from lf_trainer_sft.models import load_tokenizer as load_tokenizer
    from lf_trainer_sft.models import peft_config as peft_config
    from lf_trainer_sft.pretrain import group_texts as group_texts
    from lf_trainer_sft.runtime import BaseTrainJob as BaseTrainJob

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lf_trainer_sft.trainer_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lf_trainer_sft.{module}"), name)
    globals()[name] = value
    return value
