"""The run every LargeForge trainer shares, from checks to the saved output.

Order matters and is the point of this module: every config check (the same as
``--dry-run``'s), then the data is validated and tokenized (bad data stops here), then the
output directory and resume state are checked (a resume whose model, data or tokenizer
changed is refused), and only then does the model load. Before the first step the
settings left to lf (``auto``/``null``) are resolved, printed and recorded
(:mod:`lf_trainer_sft.resolved`). Subclasses supply the data shape, the datasets, the model
and the TRL trainer; this class does hooks and callbacks; :mod:`lf_trainer_sft.outputs`
the run record, final save, merge and result; :mod:`lf_trainer_sft.guards` out-of-memory
and full-disk errors.
"""

from __future__ import annotations

import abc
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from lf.components import ComponentSpec, Events, NullEvents, TrainResult
from lf.plugins import Registry, get_registry
from lf_trainer_sft import checkpoints as ckpt
from lf_trainer_sft.guards import disk_full_guard, oom_guard, peer_lost_guard, quiet_libraries, quiet_trainer
from lf_trainer_sft.outputs import RUN_FILE, OutputSteps
from lf_trainer_sft.trainlog import LOG_NAME

__all__ = ["RUN_FILE", "BaseTrainJob", "oom_guard", "quiet_libraries", "rank_info"]


def _pushes(config: Any) -> bool:
    return bool(getattr(config, "push_to_hub", None) or getattr(config, "push_merged_to_hub", None))


def rank_info() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``(0, 1)`` without one)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class BaseTrainJob(OutputSteps, abc.ABC):
    """A training run; subclasses implement the ``_``-prefixed steps."""

    #: the component name (hooks receive its spec)
    component: ClassVar[str] = "sft"
    #: the internal data shape this trainer reads (chat, preference, text)
    shape: ClassVar[str] = "chat"

    config: Any
    events: Events

    # -- the run ---------------------------------------------------------------------------------

    def run(self, config: Any, events: Events) -> TrainResult:
        """Train as ``config`` says, reporting to ``events``; returns what was written and measured.

        A storage URL as ``output_dir`` is trained into a local staging directory and uploaded at
        the end, markers last; ``push_to_hub`` pushes the final model (:mod:`lf_trainer_sft.publish`).
        """
        from lf_trainer_sft.publish import local_output, push_to_hub, upload_output

        config, self.output_url = local_output(config)
        result, spec, registry = self._train(config, events)
        if self.is_main:
            pushed = push_to_hub(config, Path(str(result.output_dir)), self.events) if _pushes(config) else {}
            if self.output_url:
                result = upload_output(result, self.output_url, self.events)
            if pushed:
                result.artifacts.update(pushed)
        registry.call_safely("lf_after_train", component=spec, config=config, result=result)
        return result

    def _train(self, config: Any, events: Events) -> tuple[TrainResult, ComponentSpec, Registry]:
        """The run itself, into a local ``output_dir``."""
        self._begin(config, events)
        train_ds, eval_ds, resume_from = self._prepare()
        spec, registry = self.spec(), get_registry()
        model = self._load_with_hooks(spec, registry)
        callbacks = self._callbacks(spec, registry, has_eval=eval_ds is not None)
        trainer = self._build_trainer(model, self.tokenizer, train_ds, eval_ds, callbacks)
        quiet_trainer(trainer)
        self._record_resolved(trainer, resume_from)
        self.events.message(self._describe(model, resume_from))
        with (
            disk_full_guard(config.output_dir, lambda: self._being_written(trainer)),
            oom_guard(config),
            peer_lost_guard(config.output_dir, self.world_size),
        ):
            output = trainer.train(resume_from_checkpoint=resume_from)
            eval_metrics = trainer.evaluate() if eval_ds is not None else {}
        artifacts = self._save_final(trainer, model)
        return self._result(trainer, output, eval_metrics, artifacts, resume_from), spec, registry

    def _begin(self, config: Any, events: Events) -> None:
        self.config = config
        self.rank, self.world_size = rank_info()
        self.is_main = self.rank == 0
        self.events = events if self.is_main else NullEvents()
        self.started = time.time()
        self.resolved: dict[str, Any] = {}
        self.fingerprint: dict[str, str] = {}
        quiet_libraries()

    def _prepare(self) -> tuple[Any, Any | None, str | None]:
        """Checks, data, tokenizer, fingerprint and resume state: everything before the model loads."""
        c = self.config
        self.check_config()
        train_ds, eval_ds = self.load_data()
        from lf.models import resolve_model

        self.model_path = resolve_model(c.model, events=self.events, revision=c.model_revision)
        self.tokenizer = self._load_tokenizer(self.model_path)
        train_ds, eval_ds = self._prepare_datasets(train_ds, eval_ds, self.tokenizer)
        self.train_examples = len(train_ds) if hasattr(train_ds, "__len__") else None  # None: a stream
        self.has_eval = eval_ds is not None
        self.fingerprint = self._fingerprint()
        with self._main_first():  # rank 0 cleans up the output directory, the others then read the result
            resume_from = ckpt.choose_resume(
                c.output_dir, c.resume, self.fingerprint, overwrite=c.overwrite, say=self._say_main, mutate=self.is_main
            )
            self._start_output(self.fingerprint, resume_from)
        self._agree_on_resume(resume_from)
        return train_ds, eval_ds, resume_from

    def _load_with_hooks(self, spec: ComponentSpec, registry: Registry) -> Any:
        c = self.config
        registry.call_safely("lf_before_model_load", component=spec, config=c)
        self.events.message(f"loading {c.model} ({self.model_path})")
        model = self._load_model(self.model_path, self.tokenizer)
        registry.call_safely("lf_after_model_load", component=spec, config=c, model=model, tokenizer=self.tokenizer)
        return model

    def _callbacks(self, spec: ComponentSpec, registry: Registry, *, has_eval: bool) -> list[Any]:
        from lf_trainer_sft.callbacks import (
            CheckpointCallback,
            EarlyStoppingCallback,
            EventsCallback,
            RankReportCallback,
        )

        c = self.config
        extra = [cb for found in registry.call_safely("lf_train_callbacks", component=spec, config=c) for cb in found]
        self.progress = EventsCallback(self.events, Path(c.output_dir) / LOG_NAME)
        self.checkpointing = CheckpointCallback(c.output_dir, self.fingerprint, c.save_total_limit)
        callbacks: list[Any] = [self.progress, self.checkpointing, RankReportCallback(), *extra]
        self.early = None
        if c.early_stopping_patience > 0 and has_eval:
            self.early = EarlyStoppingCallback(c.early_stopping_patience, c.early_stopping_threshold)
            callbacks.append(self.early)
        return callbacks

    def _record_resolved(self, trainer: Any, resume_from: str | None) -> None:
        """Resolve the ``auto``/``null`` settings, say them once and write them into ``lf_run.json``."""
        from lf_trainer_sft.resolved import describe, resolve_settings

        self.resolved = resolve_settings(self, trainer, resume_from)
        self.events.message(describe(self.config, self.resolved))
        self.write_run_record()

    def _being_written(self, trainer: Any) -> tuple[str, Path | None]:
        """What a full disk interrupted during training: the checkpoint of this step if it is unfinished."""
        out = Path(self.config.output_dir)
        path = out / f"checkpoint-{trainer.state.global_step}"
        if path.is_dir() and not (path / ckpt.MARKER).is_file():
            return str(path), path
        return str(out), None

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
        hub = {"subset": c.data_subset, "split": c.data_split, "revision": c.data_revision}
        train = load_for_training(c.data, self.shape, format=c.format, streaming=c.streaming, **hub)
        if c.streaming:  # no global shuffle of a stream: examples are drawn from a buffer of this many
            train = train.shuffle(seed=c.seed, buffer_size=c.shuffle_buffer)
        if c.eval_data:
            return train, load_for_training(c.eval_data, self.shape, format=c.format)
        return split_dataset(train, c.val_ratio, seed=c.seed) if c.val_ratio > 0 else (train, None)

    def learning_rate(self) -> float:
        """The configured learning rate, or the default for the method."""
        lr = self.config.learning_rate
        return float(lr) if lr is not None else (2e-4 if self.config.method == "lora" else 2e-5)

    def training_args(self, *, has_eval: bool) -> dict[str, Any]:
        """TrainingArguments keywords common to every trainer (see :mod:`lf_trainer_sft.trainargs`)."""
        from lf_trainer_sft.trainargs import training_arguments

        return training_arguments(self, has_eval=has_eval)

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

    def _resolved_extra(self) -> dict[str, Any]:
        """Trainer-specific settings chosen for the user (recorded with the others, see :mod:`.resolved`)."""
        return {}

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

    @contextlib.contextmanager
    def _main_first(self) -> Iterator[None]:
        """Run the block on rank 0 first, then on the other ranks (a no-op without a launcher)."""
        if self.world_size <= 1:
            yield
            return
        import torch
        from accelerate import PartialState

        cuda = torch.cuda.is_available()  # the state is shared: TrainingArguments reuses it, MULTI_CPU needs cpu=True
        state = PartialState(cpu=not cuda, backend=None if cuda else "gloo")
        with state.main_process_first():
            yield

    def _agree_on_resume(self, resume_from: str | None) -> None:
        """Every rank must resume from the same checkpoint: on several nodes output_dir must be shared storage."""
        if self.world_size <= 1:
            return
        import torch.distributed as dist

        seen: list[Any] = [None] * self.world_size
        dist.all_gather_object(seen, resume_from)
        if len(set(seen)) > 1:
            from lf.errors import RunError

            views = "; ".join(f"rank {r}: {Path(s).name if s else 'a fresh start'}" for r, s in enumerate(seen))
            raise RunError(
                f"The training processes disagree on where to resume ({views}): they do not see the same "
                f"{self.config.output_dir}.",
                hint="On several nodes, output_dir must be storage every node shares (NFS, a shared volume), "
                "at the same path on each.",
            )

    def _say_main(self, text: str) -> None:
        self.events.message(text)

    def _describe(self, model: Any, resume_from: str | None) -> str:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        where = f", resuming from {Path(resume_from).name}" if resume_from else ""
        examples = f"{self.train_examples} examples" if self.train_examples is not None else "a stream of examples"
        procs = f", {self.world_size} processes" if self.world_size > 1 else ""
        return (
            f"training {self.component} on {examples}: {trainable:,} of {total:,} parameters "
            f"trainable ({100 * trainable / max(total, 1):.2f}%){procs}{where}"
        )
