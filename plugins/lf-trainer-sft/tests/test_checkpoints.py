"""Checkpoint markers, validation, rotation and the resume decision (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lf.errors import ConfigError
from lf_trainer_sft import checkpoints as ckpt

FP = {"model": "m (abc)", "tokenizer": "512 tokens (def)", "data": "d.jsonl sha256:1", "adapter": "full"}


def make_checkpoint(root: Path, step: int, *, complete: bool = True, fingerprint: dict | None = None) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x" * 100)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if complete:
        ckpt.finalize_checkpoint(path, fingerprint or FP, step=step)
    return path


def test_marker_lists_files_and_validation_passes(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path, 5)
    marker = ckpt.read_marker(path)
    assert marker["files"] == {"model.safetensors": 100, "trainer_state.json": len('{"global_step": 5}')}
    assert ckpt.validate_checkpoint(path) == []


def test_unfinished_checkpoint_is_invalid(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path, 5, complete=False)
    assert "was not finished" in ckpt.validate_checkpoint(path)[0]


def test_truncated_or_missing_file_is_detected(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path, 5)
    (path / "model.safetensors").write_bytes(b"x" * 10)
    assert "has 10 bytes, 100 were written" in ckpt.validate_checkpoint(path)[0]
    (path / "trainer_state.json").unlink()
    assert any("missing" in p for p in ckpt.validate_checkpoint(path))


def test_rotation_keeps_the_newest_valid(tmp_path: Path) -> None:
    for step in (2, 4, 6, 8):
        make_checkpoint(tmp_path, step)
    ckpt.rotate(tmp_path, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [8, 6]


def test_auto_resume_skips_and_removes_an_unfinished_newer_checkpoint(tmp_path: Path) -> None:
    make_checkpoint(tmp_path, 4)
    make_checkpoint(tmp_path, 6, complete=False)  # a crash while writing step 6
    said: list[str] = []
    chosen = ckpt.choose_resume(str(tmp_path), "auto", FP, overwrite=False, say=said.append)
    assert chosen == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-6").exists()
    assert any("checkpoint-6" in s and "not finished" in s for s in said)


def test_resume_refused_when_data_or_model_changed(tmp_path: Path) -> None:
    make_checkpoint(tmp_path, 4)
    changed = {**FP, "data": "d.jsonl sha256:2", "model": "other (123)"}
    with pytest.raises(ConfigError) as info:
        ckpt.choose_resume(str(tmp_path), "auto", changed, overwrite=False)
    message = info.value.message
    assert "data: was d.jsonl sha256:1, now d.jsonl sha256:2" in message
    assert "model: was m (abc), now other (123)" in message
    assert "tokenizer" not in message  # only what changed is listed


def test_explicit_invalid_checkpoint_is_refused(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path, 4, complete=False)
    with pytest.raises(ConfigError, match="Cannot resume"):
        ckpt.choose_resume(str(tmp_path), str(path), FP, overwrite=False)


def test_finished_run_is_protected_unless_overwrite(tmp_path: Path) -> None:
    make_checkpoint(tmp_path, 4)
    (tmp_path / ckpt.OUTPUT_MARKER).write_text("{}")
    with pytest.raises(ConfigError, match="already holds a finished"):
        ckpt.choose_resume(str(tmp_path), "auto", FP, overwrite=False)
    assert ckpt.choose_resume(str(tmp_path), "auto", FP, overwrite=True) is None
    assert ckpt.list_checkpoints(tmp_path) == []


def test_never_starts_over(tmp_path: Path) -> None:
    make_checkpoint(tmp_path, 4)
    assert ckpt.choose_resume(str(tmp_path), "never", FP, overwrite=False) is None
    assert ckpt.list_checkpoints(tmp_path) == []
