"""The run every LargeForge trainer shares, from checks to the saved output.

Order matters and is the point of this module: cheap config checks, then the data is
validated and tokenized (bad data stops here), then the output directory and resume
state are checked (a resume whose model, data or tokenizer changed is refused), and
only then does the model load. Subclasses supply the data shape, the datasets, the
model and the TRL trainer; this class does hooks, callbacks, checkpoints, the JSON Lines
log, the loss curve, out-of-memory handling, the final save and the optional merge.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from lf.components import ComponentSpec, Events, NullEvents, TrainResult
from lf.errors import OutOfMemoryError
from lf.plugins import get_registry
from lf_trainer_sft import checkpoints as ckpt
from lf_trainer_sft.trainlog import LOG_NAME, read_log, truncate_log

RUN_FILE = "lf_run.json"


def rank_info() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``(0, 1)`` without one)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class BaseTrainJob(abc.ABC):
    """A training run; subclasses implement the ``_``-prefixed steps."""

    #: the component name (hooks receive its spec)
    component: ClassVar[str] = "sft"
    #: the internal data shape this trainer reads (chat, preference, text)
    shape: ClassVar[str] = "chat"

    config: Any
    events: Events

    # -- the run ---------------------------------------------------------------------------------

    def run(self, config: Any, events: Events) -> TrainResult:
        """Train as ``config`` says, reporting to ``events``; returns what was written and measured."""
        self.config = config
        self.rank, self.world_size = rank_info()
        self.is_main = self.rank == 0
        self.events = events if self.is_main else NullEvents()
        self.started = time.time()
        quiet_libraries()
        self.check_config()
        train_ds, eval_ds = self.load_data()
        from lf.models import resolve_model

        self.model_path = resolve_model(config.model, events=self.events)
        self.tokenizer = self._load_tokenizer(self.model_path)
        train_ds, eval_ds = self._prepare_datasets(train_ds, eval_ds, self.tokenizer)
        self.train_examples = len(train_ds)
        fingerprint = self._fingerprint()
        with self._main_first():  # rank 0 cleans up the output directory, the others then read the result
            resume_from = ckpt.choose_resume(
                config.output_dir,
                config.resume,
                fingerprint,
                overwrite=config.overwrite,
                say=self._say_main,
                mutate=self.is_main,
            )
            self._start_output(fingerprint, resume_from)

        spec = self.spec()
        registry = get_registry()
        registry.call_safely("lf_before_model_load", component=spec, config=config)
        self.events.message(f"loading {config.model} ({self.model_path})")
        model = self._load_model(self.model_path, self.tokenizer)
        registry.call_safely(
            "lf_after_model_load", component=spec, config=config, model=model, tokenizer=self.tokenizer
        )
        extra = [
            cb for found in registry.call_safely("lf_train_callbacks", component=spec, config=config) for cb in found
        ]

        from lf_trainer_sft.callbacks import (
            CheckpointCallback,
            EarlyStoppingCallback,
            EventsCallback,
            RankReportCallback,
        )

        log_path = Path(config.output_dir) / LOG_NAME
        self.progress = EventsCallback(self.events, log_path)
        self.checkpointing = CheckpointCallback(config.output_dir, fingerprint, config.save_total_limit)
        callbacks: list[Any] = [self.progress, self.checkpointing, RankReportCallback(), *extra]
        self.early = None
        if config.early_stopping_patience > 0 and eval_ds is not None:
            self.early = EarlyStoppingCallback(config.early_stopping_patience, config.early_stopping_threshold)
            callbacks.append(self.early)
        trainer = self._build_trainer(model, self.tokenizer, train_ds, eval_ds, callbacks)
        _quiet_trainer(trainer)
        self.events.message(self._describe(model, resume_from))
        with oom_guard(config):
            output = trainer.train(resume_from_checkpoint=resume_from)
        eval_metrics = trainer.evaluate() if eval_ds is not None else {}
        artifacts = self._save_final(trainer, model)
        result = self._result(trainer, output, eval_metrics, artifacts, resume_from)
        registry.call_safely("lf_after_train", component=spec, config=config, result=result)
        return result

    # -- steps shared by every trainer -------------------------------------------------------------

    def spec(self) -> ComponentSpec:
        """This trainer's registered component (what the lifecycle hooks receive)."""
        from lf.errors import PluginError

        try:
            return get_registry().get("train", self.component)
        except PluginError:  # used from Python with a registry that does not hold this plugin
            impl = f"{type(self).__module__}:{type(self).__name__}"
            return ComponentSpec(kind="train", name=self.component, summary=self.component, impl=impl)

    def check_config(self) -> None:
        """Every config check ``--dry-run`` makes (limits and ``validate()``), before any data or model loads."""
        from lf.config import validate_config

        validate_config(self.config)

    def load_data(self) -> tuple[Any, Any | None]:
        """Validate (bad data stops here, before any model) and load train and eval datasets."""
        from lf.data import load_for_training, split_dataset

        c = self.config
        train = load_for_training(c.data, self.shape, format=c.format)
        if c.eval_data:
            return train, load_for_training(c.eval_data, self.shape, format=c.format)
        return split_dataset(train, c.val_ratio, seed=c.seed) if c.val_ratio > 0 else (train, None)

    def learning_rate(self) -> float:
        """The configured learning rate, or the default for the method."""
        lr = self.config.learning_rate
        return float(lr) if lr is not None else (2e-4 if self.config.method == "lora" else 2e-5)

    def training_args(self, *, has_eval: bool) -> dict[str, Any]:
        """TrainingArguments keywords common to every trainer."""
        import torch

        from lf_trainer_sft.models import torch_dtype

        c = self.config
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
            "learning_rate": self.learning_rate(),
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
            "fsdp": c.fsdp,
        }
        if c.deepspeed:
            args["deepspeed"] = c.deepspeed
        if c.fsdp_config:
            args["fsdp_config"] = c.fsdp_config
        if self.world_size > 1 and not torch.cuda.is_available():
            args["ddp_backend"] = "gloo"
        return args

    def adapt_model(self, model: Any) -> Any:
        """Attach a LoRA adapter (``method: lora``), preparing a quantized base for QLoRA."""
        c = self.config
        if c.method != "lora":
            return model
        from peft import get_peft_model, prepare_model_for_kbit_training

        from lf_trainer_sft.models import peft_config

        if c.quantization != "none":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=c.gradient_checkpointing)
        return get_peft_model(model, peft_config(c.lora, model))

    # -- what subclasses provide -----------------------------------------------------------------

    def _load_tokenizer(self, model_path: str) -> Any:
        from lf_trainer_sft.models import load_tokenizer

        return load_tokenizer(model_path, getattr(self.config, "chat_template", None))

    def _prepare_datasets(self, train: Any, evals: Any | None, tokenizer: Any) -> tuple[Any, Any | None]:
        return train, evals

    def _data_options(self) -> dict[str, Any]:
        """Options that shape the training examples (part of the resume fingerprint)."""
        return {"max_length": self.config.max_length}

    def _load_model(self, model_path: str, tokenizer: Any) -> Any:
        from lf_trainer_sft.models import load_model

        c = self.config
        model = load_model(
            model_path, dtype=c.dtype, quantization=c.quantization, attn_implementation=c.attn_implementation
        )
        return self.adapt_model(model)

    @abc.abstractmethod
    def _build_trainer(self, model: Any, tokenizer: Any, train: Any, evals: Any | None, callbacks: list[Any]) -> Any:
        """The (TRL) trainer for this method, with ``callbacks`` attached."""

    # -- bookkeeping -------------------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, str]:
        c = self.config
        data = ckpt.data_identity(c.data, format=c.format, **self._data_options())
        if c.eval_data:
            data += f"; eval {ckpt.data_identity(c.eval_data)}"
        lora = c.lora
        adapter = (
            "full fine-tuning"
            if c.method == "full"
            else (
                f"lora r={lora.r or 'auto'} alpha={lora.alpha or 'auto'} targets={lora.target_modules or 'auto'} "
                f"modules_to_save={lora.modules_to_save} quantization={c.quantization}"
            )
        )
        return {
            "model": ckpt.model_identity(self.model_path),
            "tokenizer": ckpt.tokenizer_identity(self.tokenizer),
            "data": data,
            "adapter": adapter,
        }

    def _start_output(self, fingerprint: dict[str, str], resume_from: str | None) -> None:
        if not self.is_main:
            return
        out = Path(self.config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        log = out / LOG_NAME
        if resume_from is None:
            log.unlink(missing_ok=True)
        else:
            step = int(ckpt.read_marker(resume_from).get("step", 0))
            truncate_log(log, step)
        import msgspec

        body = {"component": self.component, "config": msgspec.to_builtins(self.config), "fingerprint": fingerprint}
        from lf.atomic import atomic_write_text

        atomic_write_text(out / RUN_FILE, json.dumps(body, indent=1))

    @contextlib.contextmanager
    def _main_first(self) -> Iterator[None]:
        """Run the block on rank 0 first, then on the other ranks (a no-op without a launcher)."""
        if self.world_size <= 1:
            yield
            return
        import torch
        from accelerate import PartialState

        state = PartialState(backend=None if torch.cuda.is_available() else "gloo")
        with state.main_process_first():
            yield

    def _say_main(self, text: str) -> None:
        self.events.message(text)

    def _describe(self, model: Any, resume_from: str | None) -> str:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        where = f", resuming from {Path(resume_from).name}" if resume_from else ""
        procs = f", {self.world_size} processes" if self.world_size > 1 else ""
        return (
            f"training {self.component} on {self.train_examples} examples: {trainable:,} of {total:,} parameters "
            f"trainable ({100 * trainable / max(total, 1):.2f}%){procs}{where}"
        )

    def _save_final(self, trainer: Any, model: Any) -> dict[str, str]:
        """Save adapter/model, tokenizer, chat template and generation config into output_dir (atomically)."""
        c = self.config
        out = Path(c.output_dir)
        staging = out / ".tmp-final"
        if self.is_main and staging.exists():
            shutil.rmtree(staging)
        trainer.save_model(str(staging))  # every rank calls it (FSDP/DeepSpeed gather); rank 0 writes
        artifacts: dict[str, str] = {}
        if not self.is_main:
            return artifacts
        from lf_trainer_sft.models import generation_config

        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        self.tokenizer.save_pretrained(staging)
        template = getattr(self.tokenizer, "chat_template", None)
        if template:
            (staging / "chat_template.jinja").write_text(template, encoding="utf-8")
        generation_config(unwrapped, self.tokenizer).save_pretrained(staging)
        for f in staging.iterdir():
            os.replace(f, out / f.name)
        staging.rmdir()
        artifacts["adapter" if (out / "adapter_config.json").exists() else "model"] = str(out)
        artifacts["log"] = str(out / LOG_NAME)
        if c.plot:
            from lf_trainer_sft.plot import plot_loss

            png = plot_loss(read_log(out / LOG_NAME), out / "loss_curve.png", title=f"{self.component}: {c.model}")
            if png:
                artifacts["loss_curve"] = str(png)
        if c.merge and c.method == "lora":
            from lf_trainer_sft.merge import merge_lora

            self.events.message("merging the adapter into its base model")
            report = merge_lora(self.model_path, str(out), str(out / "merged"), dtype=c.merge_dtype, overwrite=True)
            artifacts["merged"] = str(out / "merged")
            self.merge_report = report
        for name, path in artifacts.items():
            self.events.artifact(name, path)
        return artifacts

    def _result(
        self, trainer: Any, output: Any, eval_metrics: dict[str, float], artifacts: dict[str, str], resume: str | None
    ) -> TrainResult:
        c = self.config
        records = read_log(Path(c.output_dir) / LOG_NAME) if self.is_main else []
        losses = [r["loss"] for r in records if "loss" in r]
        metrics: dict[str, float] = {"train_loss": float(output.training_loss)}
        if losses:
            metrics["first_loss"], metrics["last_loss"] = float(losses[0]), float(losses[-1])
        if self.progress.tokens_per_s:
            metrics["tokens_per_s"] = round(sum(self.progress.tokens_per_s) / len(self.progress.tokens_per_s), 1)
        runtime = output.metrics.get("train_runtime")
        if runtime:
            metrics["train_seconds"] = round(float(runtime), 2)
        for key, value in eval_metrics.items():
            if isinstance(value, (int, float)) and key in ("eval_loss",):
                metrics[key] = float(value)
        for key, value in self._extra_metrics(records).items():
            metrics[key] = value
        merge_report = getattr(self, "merge_report", None)
        if merge_report is not None:
            metrics.update({f"merge_{k}": v for k, v in merge_report.metrics.items()})
        if self.early and self.early.stopped_at:
            metrics["early_stopped_at"] = float(self.early.stopped_at)
        if self.is_main:
            done = {"complete": True, "global_step": trainer.state.global_step, "metrics": metrics, "time": time.time()}
            from lf.atomic import atomic_write_text

            atomic_write_text(Path(c.output_dir) / ckpt.OUTPUT_MARKER, json.dumps(done, indent=1))
        first, last = metrics.get("first_loss"), metrics.get("last_loss")
        summary = f"{self.component}: {trainer.state.global_step} steps"
        if first is not None and last is not None:
            summary += f", loss {first:.4g} -> {last:.4g}"
        return TrainResult(
            output_dir=c.output_dir,
            metrics=metrics,
            artifacts=artifacts,
            summary=summary,
            global_step=trainer.state.global_step,
            resumed_from=resume,
        )

    def _extra_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        return {}


def quiet_libraries() -> None:
    """Silence the libraries' own progress bars and chatter (``lf -vv`` keeps them)."""
    import logging

    if logging.getLogger("lf").getEffectiveLevel() <= logging.DEBUG:
        return
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


def _quiet_trainer(trainer: Any) -> None:
    """Drop transformers' own printing (lf renders progress through events)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)


@contextlib.contextmanager
def oom_guard(config: Any) -> Iterator[None]:
    """Turn a device out-of-memory error into :class:`OutOfMemoryError` saying what to change."""
    import torch

    try:
        yield
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in str(exc).lower():
            raise
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()
        c = config
        tips = [
            f"lower per_device_train_batch_size (now {c.per_device_train_batch_size}) and raise "
            f"gradient_accumulation_steps (now {c.gradient_accumulation_steps}) to keep the effective batch",
            f"lower max_length (now {c.max_length})",
        ]
        if not c.gradient_checkpointing:
            tips.append("set gradient_checkpointing: true")
        if c.method == "full":
            tips.append("train a LoRA adapter (method: lora)")
        if c.quantization == "none":
            tips.append("use QLoRA (method: lora, quantization: 4bit)")
        raise OutOfMemoryError("The device ran out of memory while training.", hint="; ".join(tips) + ".") from None
