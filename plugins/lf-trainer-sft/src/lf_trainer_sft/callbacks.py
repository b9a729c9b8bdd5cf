"""Trainer callbacks (imported when a run starts: they subclass transformers' TrainerCallback).

Progress and metrics to ``events``, the JSON Lines log, checkpoint markers and rotation,
early stopping, and a per-rank report under a launcher.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from lf_trainer_sft.checkpoints import finalize_checkpoint, rotate

#: Trainer log keys renamed for people (and the JSON Lines log).
_RENAME = {"learning_rate": "lr", "num_input_tokens_seen": "tokens"}
_SKIP = {"total_flos", "train_tokens_per_second"}


class EventsCallback(TrainerCallback):
    """Reports every step to the ``events`` sink and appends each log to ``train_log.jsonl`` (rank 0)."""

    def __init__(self, events: Any, log_path: str | Path, *, description: str = "training") -> None:
        self.events = events
        self.log_path = Path(log_path)
        self.description = description
        self.latest: dict[str, float] = {}
        self._last_time = 0.0
        self._last_tokens = 0
        self.tokens_per_s: list[float] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the clock (and the token counter) for tokens/s."""
        self._last_time = time.perf_counter()
        self._last_tokens = state.num_input_tokens_seen

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Advance the progress bar with the latest loss, lr and tokens/s."""
        if state.is_world_process_zero:
            fields = {k: v for k, v in self.latest.items() if k in ("loss", "lr", "tokens_per_s")}
            self.events.progress(self.description, state.global_step, state.max_steps, **fields)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Record one log line: metrics event, JSON Lines entry."""
        if not logs or not state.is_world_process_zero:
            return
        now = time.perf_counter()
        record: dict[str, Any] = {"step": state.global_step, "epoch": round(float(state.epoch or 0.0), 4)}
        for key, value in logs.items():
            if key in _SKIP or key == "epoch" or not isinstance(value, (int, float)):
                continue
            record[_RENAME.get(key, key)] = value
        tokens = state.num_input_tokens_seen
        if "loss" in record and now > self._last_time and tokens > self._last_tokens:
            rate = (tokens - self._last_tokens) / (now - self._last_time)
            record["tokens_per_s"] = round(rate, 2)
            self.tokens_per_s.append(rate)
            self._last_time, self._last_tokens = now, tokens
        record["time"] = round(time.time(), 3)
        numbers = {k: float(v) for k, v in record.items() if k not in ("step", "time") and _finite(v)}
        self.latest.update(numbers)
        self.events.metrics(numbers, step=state.global_step)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.events.progress(
            self.description,
            state.global_step,
            state.max_steps,
            **{k: v for k, v in self.latest.items() if k in ("loss", "lr", "tokens_per_s")},
        )


class CheckpointCallback(TrainerCallback):
    """Marks each checkpoint complete (rank 0, after every file is written), then rotates."""

    def __init__(self, output_dir: str, fingerprint: Mapping[str, str], keep: int) -> None:
        self.output_dir = output_dir
        self.fingerprint = dict(fingerprint)
        self.keep = keep
        self.saved: list[str] = []

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Finalize ``checkpoint-<step>`` and delete the oldest beyond ``keep``."""
        if not state.is_world_process_zero:
            return
        path = Path(self.output_dir) / f"checkpoint-{state.global_step}"
        if not path.is_dir():
            return
        finalize_checkpoint(
            path,
            self.fingerprint,
            step=state.global_step,
            world_size=args.world_size,
            written_by_rank=args.process_index,
        )
        self.saved.append(str(path))
        rotate(self.output_dir, self.keep)


class EarlyStoppingCallback(TrainerCallback):
    """Stops training when eval loss has not improved by ``threshold`` for ``patience`` evaluations."""

    def __init__(self, patience: int, threshold: float = 0.0) -> None:
        self.patience = patience
        self.threshold = threshold
        self.best = math.inf
        self.bad = 0
        self.stopped_at: int | None = None

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Mapping[str, float] | None = None, **kwargs: Any
    ) -> None:
        """Compare the new eval loss with the best so far."""
        loss = (metrics or {}).get("eval_loss")
        if loss is None:
            return
        if loss < self.best - self.threshold:
            self.best, self.bad = loss, 0
            return
        self.bad += 1
        if self.bad >= self.patience:
            control.should_training_stop = True
            self.stopped_at = state.global_step


class RankReportCallback(TrainerCallback):
    """Under a launcher, each rank says what it ran (on stderr) when training ends.

    ``lf rank R/W: N optimizer steps, global step G, epoch E, weights sha256:D`` - ``D`` is a
    digest of this rank's full weights, so ranks that trained in lockstep print the same one.
    """

    def __init__(self) -> None:
        self.micro_steps = 0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Count this rank's optimizer steps."""
        self.micro_steps += 1

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Print the report when more than one process trains."""
        if args.world_size > 1:
            model = kwargs.get("model")
            digest = weights_digest(model) if model is not None else "unknown"
            print(
                f"lf rank {args.process_index}/{args.world_size}: {self.micro_steps} optimizer steps, "
                f"global step {state.global_step}, epoch {state.epoch or 0:.4f}, weights sha256:{digest}",
                file=sys.stderr,
                flush=True,
            )


def weights_digest(model: Any) -> str:
    """The first 16 hex digits of a SHA-256 over every weight (by name, as float32): equal weights, equal digest.

    Sharded weights (FSDP2 DTensors) are gathered first: every rank must call this together.
    """
    import hashlib

    import torch

    inner = getattr(model, "module", model)
    digest = hashlib.sha256()
    for name, tensor in sorted(inner.state_dict().items()):
        full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
        digest.update(name.encode())
        digest.update(full.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))
