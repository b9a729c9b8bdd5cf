"""What a training run leaves in ``output_dir``: the run record, the final model, the result.

* ``lf_run.json`` (:data:`RUN_FILE`): the component, the config as given, the resume
  fingerprint and - once the model is loaded - ``resolved``: what every ``auto``/``null``
  option became (dtype, device, attention kernel, learning rate, LoRA shape, ...).
* the final adapter or model, tokenizer, chat template and generation config, written into
  a staging directory and moved into place; the optional merged model; the loss curve.
* ``lf_output.json`` (``checkpoints.OUTPUT_MARKER``): written last, it marks the run complete.

A full disk while writing any of them is a clear job error (:func:`disk_full_guard`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

from lf.atomic import atomic_write_text
from lf.components import TrainResult
from lf_trainer_sft import checkpoints as ckpt
from lf_trainer_sft.guards import disk_full_guard
from lf_trainer_sft.trainlog import LOG_NAME, read_log, truncate_log

RUN_FILE = "lf_run.json"
STAGING = ".tmp-final"


class OutputSteps:
    """The output-directory steps of :class:`~lf_trainer_sft.runtime.BaseTrainJob` (a mixin)."""

    component: ClassVar[str]
    config: Any
    events: Any
    is_main: bool
    model_path: str
    tokenizer: Any
    progress: Any
    early: Any
    resolved: dict[str, Any]

    def _start_output(self, fingerprint: dict[str, str], resume_from: str | None) -> None:
        """Create output_dir, trim the log to the resumed step, write the run record (rank 0)."""
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
        self.fingerprint = fingerprint
        self.write_run_record()

    def write_run_record(self) -> None:
        """(Re)write ``lf_run.json``: component, config, fingerprint and the resolved settings so far."""
        if not self.is_main:
            return
        import msgspec

        body = {
            "component": self.component,
            "config": msgspec.to_builtins(self.config),
            "fingerprint": self.fingerprint,
            "resolved": getattr(self, "resolved", {}),
        }
        output_url = getattr(self, "output_url", None)
        if output_url:
            body["output_url"] = output_url  # output_dir above is the local staging directory
        out = Path(self.config.output_dir)
        with disk_full_guard(str(out), lambda: (str(out / RUN_FILE), None)):
            atomic_write_text(out / RUN_FILE, json.dumps(body, indent=1, default=str))

    def _save_final(self, trainer: Any, model: Any) -> dict[str, str]:
        """Save adapter/model, tokenizer, chat template and generation config into output_dir (atomically)."""
        out = Path(self.config.output_dir)
        staging = out / STAGING
        with disk_full_guard(str(out), lambda: (f"the final model into {out}", staging if self.is_main else None)):
            if self.is_main and staging.exists():
                shutil.rmtree(staging)
            trainer.save_model(str(staging))  # every rank calls it (FSDP/DeepSpeed gather); rank 0 writes
            if not self.is_main:
                return {}
            self._save_companions(trainer, staging)
            for f in staging.iterdir():
                os.replace(f, out / f.name)
            staging.rmdir()
        artifacts = {"adapter" if (out / "adapter_config.json").exists() else "model": str(out)}
        artifacts["log"] = str(out / LOG_NAME)
        artifacts["run_config"] = str(out / RUN_FILE)
        artifacts.update(self._plot(out))
        artifacts.update(self._merge(out))
        for name, path in artifacts.items():
            self.events.artifact(name, path)
        return artifacts

    def _save_companions(self, trainer: Any, staging: Path) -> None:
        """Tokenizer, chat template and generation config next to the weights."""
        from lf_trainer_sft.models import generation_config

        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        self.tokenizer.save_pretrained(staging)
        template = getattr(self.tokenizer, "chat_template", None)
        if template:
            (staging / "chat_template.jinja").write_text(template, encoding="utf-8")
        generation_config(unwrapped, self.tokenizer).save_pretrained(staging)

    def _plot(self, out: Path) -> dict[str, str]:
        if not self.config.plot:
            return {}
        from lf_trainer_sft.plot import plot_loss

        png = plot_loss(
            read_log(out / LOG_NAME), out / "loss_curve.png", title=f"{self.component}: {self.config.model}"
        )
        return {"loss_curve": str(png)} if png else {}

    def _merge(self, out: Path) -> dict[str, str]:
        c = self.config
        if not (c.merge and c.method == "lora"):
            return {}
        from lf_trainer_sft.merge import merge_lora

        self.events.message("merging the adapter into its base model")
        merged = out / "merged"
        with disk_full_guard(str(out), lambda: (f"the merged model into {merged}", merged)):
            self.merge_report = merge_lora(self.model_path, str(out), str(merged), dtype=c.merge_dtype, overwrite=True)
        return {"merged": str(merged)}

    def _result(
        self, trainer: Any, output: Any, eval_metrics: dict[str, float], artifacts: dict[str, str], resume: str | None
    ) -> TrainResult:
        """The TrainResult, after ``lf_output.json`` marks the run complete."""
        c = self.config
        metrics = self._metrics(output, eval_metrics)
        step = trainer.state.global_step
        if self.is_main:
            done = {"complete": True, "global_step": step, "metrics": metrics, "resolved": self.resolved}
            done["time"] = time.time()
            out = Path(c.output_dir)
            with disk_full_guard(str(out), lambda: (str(out / ckpt.OUTPUT_MARKER), None)):
                atomic_write_text(out / ckpt.OUTPUT_MARKER, json.dumps(done, indent=1, default=str))
        first, last = metrics.get("first_loss"), metrics.get("last_loss")
        summary = f"{self.component}: {step} steps"
        if first is not None and last is not None:
            summary += f", loss {first:.4g} -> {last:.4g}"
        summary += f" ({self.resolved.get('dtype', '?')} on {self.resolved.get('device', '?')})"
        return TrainResult(
            output_dir=c.output_dir,
            metrics=metrics,
            artifacts=artifacts,
            summary=summary,
            global_step=step,
            resumed_from=resume,
        )

    def _metrics(self, output: Any, eval_metrics: dict[str, float]) -> dict[str, float]:
        records = read_log(Path(self.config.output_dir) / LOG_NAME) if self.is_main else []
        losses = [r["loss"] for r in records if "loss" in r]
        metrics: dict[str, float] = {"train_loss": float(output.training_loss)}
        if losses:
            metrics["first_loss"], metrics["last_loss"] = float(losses[0]), float(losses[-1])
        if self.progress.tokens_per_s:
            metrics["tokens_per_s"] = round(sum(self.progress.tokens_per_s) / len(self.progress.tokens_per_s), 1)
        runtime = output.metrics.get("train_runtime")
        if runtime:
            metrics["train_seconds"] = round(float(runtime), 2)
        if isinstance(eval_metrics.get("eval_loss"), (int, float)):
            metrics["eval_loss"] = float(eval_metrics["eval_loss"])
        metrics.update(self._extra_metrics(records))
        merge_report = getattr(self, "merge_report", None)
        if merge_report is not None:
            metrics.update({f"merge_{k}": v for k, v in merge_report.metrics.items()})
        if self.early and self.early.stopped_at:
            metrics["early_stopped_at"] = float(self.early.stopped_at)
        return metrics

    def _extra_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Trainer-specific final numbers from the log (DPO rewards, distillation terms)."""
        return {}
