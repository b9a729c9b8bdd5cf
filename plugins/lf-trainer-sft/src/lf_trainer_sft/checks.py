"""The trainers' config checks that no single option's limits can make (several options, the machine).

Called by the configs' ``validate()`` methods, which ``lf run ... --dry-run``, ``lf config
check`` and the run itself all call (``lf.config.validate_config``) before anything loads.
Cheap on purpose: standard library, and torch only when QLoRA is asked for.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from lf.config import invalid
from lf.errors import DependencyMissingError, ModelNotFoundError


def check_common(c: Any) -> None:
    """What every trainer checks: something to train, the resume target, the model, QLoRA, report_to."""
    if c.max_steps == 0 or (c.max_steps < 0 and c.num_train_epochs <= 0):
        raise invalid(
            ("max_steps", "num_train_epochs"),
            f"Nothing to train: max_steps is {c.max_steps} and num_train_epochs is {c.num_train_epochs:g}.",
            hint="Set max_steps > 0, or max_steps: -1 with num_train_epochs > 0.",
        )
    if c.resume not in ("auto", "never") and not Path(c.resume).is_dir():
        raise invalid(
            "resume",
            f"'resume' must be auto, never or a checkpoint directory; {c.resume!r} is none of them.",
            hint="resume: auto continues from the latest valid checkpoint in output_dir.",
        )
    check_model("model", c.model)
    check_quantization(c.quantization, c.method)
    check_report_to(c.report_to)
    check_streaming(c)
    check_hub_options(c)
    from lf_trainer_sft.distributed import check_strategy

    check_strategy(c)


def check_streaming(c: Any) -> None:
    """``streaming: true`` reads the data once without counting it: it needs max_steps and no whole-data options."""
    if not c.streaming:
        return
    if c.max_steps <= 0:
        raise invalid(
            ("streaming", "max_steps"),
            "streaming: true reads the data as a stream of unknown length, so the run cannot count epochs.",
            hint="Set max_steps (the optimizer steps to train for).",
        )
    whole = [n for n in ("packing", "group_by_length") if getattr(c, n, False)] + (["val_ratio"] if c.val_ratio else [])
    if whole:
        raise invalid(
            ("streaming", whole[0]),
            f"streaming: true cannot be combined with {', '.join(whole)}: they need the whole data set at once.",
            hint="Turn them off, or give eval_data (a separate evaluation file) instead of val_ratio.",
        )


def check_hub_options(c: Any) -> None:
    """data_subset / data_split / data_revision choose part of a hub dataset; model_revision pins a hub model."""
    from lf.data.load import is_hub_id

    if (c.data_subset or c.data_revision or c.data_split != "train") and not is_hub_id(c.data):
        raise invalid(
            ("data_subset", "data_split", "data_revision"),
            f"data_subset, data_split and data_revision apply to a Hugging Face hub dataset; {c.data} is a file.",
            hint="Drop them, or set data to a hub id (org/name).",
        )
    if c.model_revision:
        from lf.models import model_source

        if model_source(c.model) != "hub":
            raise invalid(
                ("model_revision", "model"),
                f"model_revision pins a Hugging Face hub model; {c.model} is not a hub id.",
                hint="Drop model_revision, or set model to a hub id (org/name).",
            )


def check_model(field: str, ref: str | None) -> None:
    """Refuse a model reference that is no directory, shorthand or hub id (nothing is built or downloaded)."""
    if ref is None:
        return
    from lf.models import model_source

    try:
        model_source(ref)
    except ModelNotFoundError as exc:
        raise invalid(field, f"'{field}': {exc.message}", hint=exc.hint) from None


def check_quantization(quantization: str, method: str) -> None:
    """QLoRA needs LoRA, CUDA and bitsandbytes: say so before anything loads."""
    if quantization == "none":
        return
    if method != "lora":
        raise invalid(
            ("quantization", "method"),
            f"quantization: {quantization} trains a LoRA adapter on a frozen quantized base (QLoRA); "
            "it cannot be combined with method: full.",
            hint="Set method: lora, or quantization: none.",
        )
    import torch

    if not torch.cuda.is_available():
        raise invalid(
            "quantization",
            f"quantization: {quantization} (QLoRA) needs a CUDA GPU: bitsandbytes 4/8-bit kernels do not run "
            "on the CPU, and no CUDA device is visible.",
            hint="Set quantization: none (plain LoRA works on the CPU), or run on a machine with an NVIDIA GPU.",
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise DependencyMissingError.for_package(
            "bitsandbytes", "QLoRA (quantization: 4bit/8bit)", "'lf-trainer-sft[qlora]'"
        )


def check_report_to(backends: list[str]) -> None:
    """Each ``report_to`` backend's package must be installed."""
    for backend in backends:
        module = {"tensorboard": "tensorboard", "wandb": "wandb"}[backend]
        if importlib.util.find_spec(module) is None and not (
            backend == "tensorboard" and importlib.util.find_spec("tensorboardX")
        ):
            raise DependencyMissingError.for_package(module, f"report_to: {backend}", f"'lf-trainer-sft[{backend}]'")


def check_template_file(template: str | None) -> None:
    """A ``chat_template`` naming a ``.jinja`` file must name one that exists (not become the template's text)."""
    if not template or "\n" in template or not template.strip().endswith(".jinja"):
        return
    if not Path(template.strip()).is_file():
        raise invalid(
            "chat_template",
            f"chat_template file not found: {template}",
            hint="Give an existing .jinja file, or the template's Jinja text itself.",
        )
