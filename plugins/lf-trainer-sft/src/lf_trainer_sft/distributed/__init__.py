"""The shipped FSDP and DeepSpeed ZeRO configs, chosen by name (``distributed: fsdp|zero2|zero3``).

* ``ddp`` (the default) - every process holds the whole model; gradients are averaged (DDP,
  gloo on the CPU, NCCL on GPUs). Nothing to configure.
* ``fsdp`` - :file:`fsdp.json`: PyTorch FSDP2 through accelerate, one shard of weights,
  gradients and optimizer state per GPU, each decoder layer wrapped on its own
  (``TRANSFORMER_BASED_WRAP``, from the model's ``_no_split_modules``), full state dicts in
  checkpoints (they load anywhere and resume like a DDP run's).
* ``zero2`` - :file:`zero2.json`: DeepSpeed ZeRO stage 2 (optimizer state and gradients
  partitioned, weights replicated).
* ``zero3`` - :file:`zero3.json`: DeepSpeed ZeRO stage 3 (weights partitioned too; the
  16-bit weights are gathered when the model is saved).

The DeepSpeed files leave batch sizes, clipping, bf16/fp16 and bucket sizes to ``"auto"``:
transformers fills them from the run's own options. Copy one next to your config and pass
it as ``deepspeed: FILE`` (or ``fsdp_config: FILE`` with ``fsdp: full_shard``) to change it.
FSDP and DeepSpeed run on GPUs only: accelerate does not shard on the CPU (it would train
as plain DDP), so :func:`check_strategy` refuses them there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

Strategy = Literal["ddp", "fsdp", "zero2", "zero3"]
STRATEGIES: tuple[str, ...] = ("ddp", "fsdp", "zero2", "zero3")
HERE = Path(__file__).resolve().parent


def config_file(strategy: str) -> Path | None:
    """The shipped config of ``strategy`` (None for ddp)."""
    return None if strategy == "ddp" else HERE / f"{strategy}.json"


def training_arguments(config: Any) -> dict[str, Any]:
    """The ``TrainingArguments`` keywords of the config's ``distributed`` strategy (and raw fsdp/deepspeed)."""
    strategy = getattr(config, "distributed", "ddp")
    args: dict[str, Any] = {"ddp_timeout": config.distributed_timeout_s}
    if strategy == "fsdp":
        args.update(fsdp=True, fsdp_config=str(config_file("fsdp")))
    elif strategy in ("zero2", "zero3"):
        args["deepspeed"] = str(config_file(strategy))
    else:
        if config.fsdp:
            args["fsdp"] = config.fsdp
        if config.fsdp_config:
            args["fsdp_config"] = config.fsdp_config
        if config.deepspeed:
            args["deepspeed"] = config.deepspeed
    return args


def check_strategy(config: Any, *, cuda: bool | None = None) -> None:
    """Refuse a strategy this machine or these options cannot run, before anything loads.

    ``cuda``: whether a CUDA device is visible (None: ask torch, only when a sharded strategy is asked for).
    """
    from lf.config import invalid
    from lf.errors import DependencyMissingError

    strategy = config.distributed
    raw = [name for name in ("fsdp", "fsdp_config", "deepspeed") if getattr(config, name)]
    if strategy != "ddp" and raw:
        raise invalid(
            ("distributed", raw[0]),
            f"distributed: {strategy} uses the shipped config; {raw[0]} sets another one.",
            hint=f"Keep one: distributed: {strategy}, or distributed: ddp with your own {raw[0]}.",
        )
    sharded = strategy if strategy != "ddp" else ("fsdp" if config.fsdp else "deepspeed" if config.deepspeed else None)
    if sharded is None:
        return
    if config.quantization != "none":
        raise invalid(
            ("distributed", "quantization"),
            f"quantization: {config.quantization} (QLoRA) cannot be sharded with {sharded} here.",
            hint="Use distributed: ddp for QLoRA (each GPU holds the 4/8-bit base), or quantization: none.",
        )
    if cuda is None:
        import torch

        cuda = bool(torch.cuda.is_available())
    if not cuda:
        field = "distributed" if strategy != "ddp" else raw[0]
        raise invalid(
            field,
            f"{sharded} shards the model over GPUs, and no CUDA device is visible: accelerate does not shard on "
            "the CPU, so this would train as plain DDP.",
            hint="On the CPU use distributed: ddp (the default); run FSDP or DeepSpeed on NVIDIA GPUs.",
        )
    if (strategy.startswith("zero") or config.deepspeed) and importlib.util.find_spec("deepspeed") is None:
        raise DependencyMissingError.for_package("deepspeed", f"distributed: {strategy}", "'lf-trainer-sft[deepspeed]'")
