"""Crash-safe checkpoints: a completion marker, validation on load, rotation, resume checks.

The Trainer writes ``checkpoint-N/`` (safetensors weights, optimizer, scheduler, RNG and
trainer state). Only when every file is written and fsynced does rank 0 add
``lf_checkpoint.json`` (atomically): the run's fingerprint and every file with its size.
A directory without that marker, or whose files do not match it, is not a checkpoint - a
crash mid-write can never leave one that looks complete. Rotation (keep the last K) runs
after the marker is written, so a valid checkpoint always remains.

A resume compares the checkpoint's fingerprint (model, tokenizer, data, adapter shape)
with the current run's and refuses, naming each difference, when they disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lf.atomic import atomic_write_text
from lf.errors import ConfigError

MARKER = "lf_checkpoint.json"
OUTPUT_MARKER = "lf_output.json"
_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")


def file_digest(path: str | os.PathLike[str], *, limit: int = 64 << 20) -> str:
    """sha256 of a file (files over ``limit`` bytes: their size plus the first and last ``limit/2``)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with p.open("rb") as f:
        if size <= limit:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        else:  # in 1 MiB pieces: a streamed multi-GB data file must not cost `limit` bytes of memory
            for start in (0, size - limit // 2):
                f.seek(start)
                left = limit // 2
                while left > 0:
                    piece = f.read(min(1 << 20, left))
                    if not piece:
                        break
                    h.update(piece)
                    left -= len(piece)
    return h.hexdigest()[:16]


def model_identity(path: str) -> str:
    """A short description of a model that changes when its weights or config do."""
    p = Path(path)
    if not p.is_dir():
        return path  # a hub id
    h = hashlib.sha256()
    for name in sorted(os.listdir(p)):
        f = p / name
        if name.endswith((".json", ".safetensors", ".bin")) and f.is_file() and not name.startswith("tokenizer"):
            h.update(f"{name}:{f.stat().st_size}".encode())
            if name.endswith(".json"):
                h.update(f.read_bytes())
    return f"{p.resolve()} ({h.hexdigest()[:12]})"


def tokenizer_identity(tokenizer: Any) -> str:
    """Vocabulary size plus a hash of the vocabulary, special tokens and chat template."""
    vocab = tokenizer.get_vocab()
    h = hashlib.sha256(json.dumps(sorted(vocab.items())).encode())
    h.update(str(tokenizer.eos_token).encode())
    h.update(str(getattr(tokenizer, "chat_template", "") or "").encode())
    return f"{len(vocab)} tokens ({h.hexdigest()[:12]})"


def data_identity(path: str, **options: Any) -> str:
    """The data file's content hash plus the options that shape the examples."""
    p = Path(path)
    ident = f"{p.resolve()} sha256:{file_digest(p)}" if p.is_file() else path
    extra = ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if v is not None)
    return f"{ident}, {extra}" if extra else ident


def differences(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """``key: was X, now Y`` for each key whose value changed."""
    return [
        f"{key}: was {old.get(key, '(unknown)')}, now {new.get(key, '(unknown)')}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``checkpoint-N`` directory, newest first (valid or not)."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _CKPT_RE.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found, reverse=True)


def validate_checkpoint(path: str | os.PathLike[str]) -> list[str]:
    """Problems that make ``path`` unusable as a checkpoint (empty when it is complete)."""
    p = Path(path)
    marker = p / MARKER
    if not marker.is_file():
        return [f"{p.name} has no {MARKER}: it was not finished (interrupted while saving?)"]
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        files: dict[str, int] = info["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{p.name}/{MARKER} is unreadable: {exc}"]
    problems = []
    for rel, size in files.items():
        f = p / rel
        if not f.is_file():
            problems.append(f"{p.name}/{rel} is missing")
        elif f.stat().st_size != size:
            problems.append(f"{p.name}/{rel} has {f.stat().st_size} bytes, {size} were written")
    if not any(name in files for name in _WEIGHTS):
        problems.append(f"{p.name} holds no model weights")
    if "trainer_state.json" not in files:
        problems.append(f"{p.name} holds no trainer_state.json")
    return problems


def read_marker(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The completion marker of a checkpoint."""
    data: dict[str, Any] = json.loads((Path(path) / MARKER).read_text(encoding="utf-8"))
    return data


def finalize_checkpoint(path: str | os.PathLike[str], fingerprint: Mapping[str, str], **extra: Any) -> None:
    """Fsync every file of a written checkpoint, then add its marker atomically."""
    p = Path(path)
    files: dict[str, int] = {}
    for f in sorted(p.rglob("*")):
        if f.is_file() and f.name != MARKER:
            with f.open("rb") as handle:
                os.fsync(handle.fileno())
            files[str(f.relative_to(p))] = f.stat().st_size
    body = {"fingerprint": dict(fingerprint), "files": files, "time": time.time(), **extra}
    atomic_write_text(p / MARKER, json.dumps(body, indent=1))


def rotate(output_dir: str | os.PathLike[str], keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` valid checkpoints (and any invalid older ones)."""
    removed = []
    kept = 0
    for _, path in list_checkpoints(output_dir):
        if kept < max(keep, 1) and not validate_checkpoint(path):
            kept += 1
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def choose_resume(
    output_dir: str,
    resume: str,
    fingerprint: Mapping[str, str],
    *,
    overwrite: bool,
    say: Any = print,
    mutate: bool = True,
) -> str | None:
    """The checkpoint to resume from (or None), after checking the output directory's state.

    Raises :class:`ConfigError` when ``output_dir`` holds a finished run (unless ``overwrite``),
    when an explicit checkpoint is invalid, or when the checkpoint's fingerprint differs.
    Only with ``mutate`` (rank 0) are stale files removed.
    """
    root = Path(output_dir)
    finished = root / OUTPUT_MARKER
    if finished.is_file():
        if not overwrite:
            raise ConfigError(
                f"{output_dir} already holds a finished training run.",
                hint="Choose another output_dir, or set overwrite: true to replace it.",
            )
        say(f"overwrite: replacing the finished run in {output_dir}")
        if mutate:
            finished.unlink(missing_ok=True)
        resume = "never"
    if resume == "never":
        for _, path in list_checkpoints(root) if mutate else []:
            shutil.rmtree(path, ignore_errors=True)
        return None
    if resume == "auto":
        candidates = list_checkpoints(root)
        for step, path in candidates:
            problems = validate_checkpoint(path)
            if problems:
                say(f"ignoring {path}: {'; '.join(problems)}")
                if mutate:
                    shutil.rmtree(path, ignore_errors=True)
                continue
            _check_fingerprint(path, fingerprint)
            say(f"resuming from {path} (step {step})")
            return str(path)
        return None
    path = Path(resume)
    problems = validate_checkpoint(path) if path.is_dir() else [f"{resume} is not a directory"]
    if problems:
        raise ConfigError(
            f"Cannot resume from {resume}: {'; '.join(problems)}.",
            hint="Use resume: auto to pick the latest valid checkpoint, or resume: never to start over.",
        )
    _check_fingerprint(path, fingerprint)
    return str(path)


def _check_fingerprint(path: Path, fingerprint: Mapping[str, str]) -> None:
    old = read_marker(path).get("fingerprint", {})
    diff = differences(old, fingerprint)
    if diff:
        raise ConfigError(
            f"Refusing to resume from {path}: the run changed in a way the checkpoint cannot follow:\n  - "
            + "\n  - ".join(diff),
            hint="Restore the original model/data/tokenizer, use another output_dir, or set resume: never.",
            details={"differences": diff},
        )
