"""What can go wrong around a training run, turned into errors a user can act on.

* :func:`oom_guard`: the device ran out of memory -> :class:`~lf.errors.OutOfMemoryError`
  saying which settings to change.
* :func:`disk_full_guard`: the disk filled up while a checkpoint or the final model was
  written -> :class:`~lf.errors.RunError` (exit 7) naming what was being written; the
  half-written directory is removed and the last complete checkpoint is left intact.
* :func:`quiet_libraries` / :func:`quiet_trainer`: the libraries' own chatter off.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lf.errors import OutOfMemoryError, RunError

#: How torch and safetensors word a failed write once they have dropped the errno.
_DISK_FULL_TEXT = ("no space left on device", "file write failed", "storagefull", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC / EDQUOT, or torch's ("file write failed") and safetensors' ("StorageFull") rewording of it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(current).lower() for text in _DISK_FULL_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def disk_full_guard(output_dir: str, writing: Callable[[], tuple[str, Path | None]]) -> Iterator[None]:
    """Turn a full disk inside the block into a :class:`RunError` naming what was being written.

    ``writing()`` says, when the disk filled up, what was being written (for the message)
    and which half-written directory to remove (or None). Complete checkpoints are never
    touched, so the run resumes from the last of them once there is space.
    """
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        what, partial = writing()
        if isinstance(exc, OSError) and exc.filename:
            what = str(exc.filename)
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)  # it can never be resumed from, and it holds space
        raise RunError(
            f"No space left on device while writing {what}: free space or choose another output_dir.",
            hint=_resume_hint(output_dir),
            details={"writing": what, "error": f"{type(exc).__name__}: {exc}"},
        ) from None


def _resume_hint(output_dir: str, when: str = "once there is space") -> str:
    from lf_trainer_sft.checkpoints import list_checkpoints, validate_checkpoint

    for step, path in list_checkpoints(output_dir):
        if not validate_checkpoint(path):
            return (
                f"The last complete checkpoint, {path} (step {step}), is intact: {when}, run the same "
                "command again and it resumes from there (resume: auto)."
            )
    return f"No complete checkpoint was written yet: {when}, run the same command again."


#: How torch words a collective that lost a peer (gloo, NCCL, the TCP store).
_PEER_LOST_TEXT = ("connection closed by peer", "connection reset by peer", "broken pipe", "gloo", "nccl", "timed out")


def is_peer_lost(exc: BaseException) -> bool:
    """A collective operation failed: another process died, or did not answer within the timeout."""
    import torch.distributed

    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc).lower() for text in _PEER_LOST_TEXT)


def _first_sentence(text: str) -> str:
    """``[.../pair.cc:537] Read error ...: Connection reset by peer. This is...`` -> ``Read error ...: ...by peer``."""
    import re

    line = re.sub(r"^\[[^\]]*\]\s*", "", text.strip().splitlines()[0] if text.strip() else "")
    return line.split(". ")[0].rstrip(".")[:300]


@contextlib.contextmanager
def peer_lost_guard(output_dir: str, world_size: int) -> Iterator[None]:
    """Under a launcher, turn a collective that lost its peers into a :class:`RunError` saying how to resume."""
    try:
        yield
    except Exception as exc:
        if world_size <= 1 or not is_peer_lost(exc):
            raise
        reason = _first_sentence(str(exc)) or type(exc).__name__
        raise RunError(
            f"Another training process (on this node or another) stopped or stopped answering: {reason}. "
            "This process stopped too.",
            hint=_resume_hint(output_dir, "when every node is up again") + " Start it on every node.",
            details={"error": f"{type(exc).__name__}: {exc}"},
        ) from None


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


def quiet_trainer(trainer: Any) -> None:
    """Drop transformers' own printing (lf renders progress through events)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
