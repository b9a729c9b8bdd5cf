"""The ``transformers.TrainingArguments`` keywords every LargeForge trainer shares."""

from __future__ import annotations

from typing import Any


def training_arguments(job: Any, *, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments keywords common to every trainer (``job``: a BaseTrainJob)."""
    import torch

    from lf_trainer_sft.models import torch_dtype

    c = job.config
    dtype = torch_dtype(c.dtype)
    save_steps = c.save_steps
    eval_steps = c.eval_steps or save_steps or max(c.logging_steps, 10)
    args: dict[str, Any] = {
        "output_dir": c.output_dir,
        "num_train_epochs": c.num_train_epochs,
        "max_steps": c.max_steps,
        "per_device_train_batch_size": c.per_device_train_batch_size,
        "per_device_eval_batch_size": c.per_device_eval_batch_size,
        "gradient_accumulation_steps": c.gradient_accumulation_steps,
        "learning_rate": job.learning_rate(),
        "weight_decay": c.weight_decay,
        "warmup_steps": c.warmup_ratio,
        "lr_scheduler_type": c.lr_scheduler_type,
        "max_grad_norm": c.max_grad_norm,
        "optim": c.optim,
        "seed": c.seed,
        "gradient_checkpointing": c.gradient_checkpointing,
        "logging_steps": c.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps" if save_steps > 0 else "no",
        "save_steps": save_steps if save_steps > 0 else 500,
        "save_total_limit": None,  # rotation happens after a checkpoint is marked complete
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": eval_steps,
        "report_to": list(c.report_to) or "none",
        "run_name": c.run_name,
        "disable_tqdm": True,
        "include_num_input_tokens_seen": "non_padding",
        "bf16": dtype == torch.bfloat16 and torch.cuda.is_available(),
        "fp16": dtype == torch.float16 and torch.cuda.is_available(),
        "dataloader_num_workers": c.dataloader_num_workers,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "ddp_find_unused_parameters": False,
        # TRL 1.16 and transformers 5.19 both rescale the loss by the process count when this is on, which
        # doubles loss and gradients under DDP; per-rank token averaging (then DDP's mean) is correct.
        "average_tokens_across_devices": False,
    }
    from lf_trainer_sft.distributed import training_arguments as distributed_arguments

    args.update(distributed_arguments(c))  # ddp_timeout, and the FSDP / DeepSpeed config of `distributed`
    if job.world_size > 1 and not torch.cuda.is_available():
        # use_cpu makes accelerate's state MULTI_CPU: without it several CPU processes each train alone
        # (the data is split, the gradients are not averaged) and rank 0 saves weights only it trained.
        args["ddp_backend"] = "gloo"
        args["use_cpu"] = True
    return args
